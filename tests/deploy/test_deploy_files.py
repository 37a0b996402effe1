"""The shipped deployment files load in the real tools: systemd's unit checker and Caddy."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("vigie*"))


def test_every_service_has_a_unit() -> None:
    names = {u.name for u in UNITS}
    expected = {"vigie-ingest.service", "vigie-api.service", "vigie-alerts.service",
                "vigie-camera.service", "vigie-up.service", "vigie.target"}
    assert names == expected


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_unit_is_sandboxed_and_restarts(unit: Path) -> None:
    text = unit.read_text()
    for line in ("User=vigie", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "Restart=always", "StandardOutput=journal", "CapabilityBoundingSet="):
        assert f"\n{line}\n" in text, f"{unit.name}: {line} missing"
    assert "ExecStart=/opt/vigie/.venv/bin/vigie " in text
    # Secrets reach a service through its own root-only env file, never its command line.
    assert "EnvironmentFile=/etc/vigie/vigie.env" in text
    assert not re.search(r"(?i)(password|token)=", text)


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze checks each key and that ExecStart runs: the one thing changed for the
    check is the path of `vigie`, pointed at this checkout's venv, and the env files made
    optional (they live in /etc/vigie on the server)."""
    vigie = Path(sys.prefix) / "bin" / "vigie"
    assert vigie.exists()
    for unit in UNITS:
        text = unit.read_text().replace("/opt/vigie/.venv/bin/vigie", str(vigie))
        (tmp_path / unit.name).write_text(text.replace("EnvironmentFile=/", "EnvironmentFile=-/"))
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze missing: scripts/setup.sh installs systemd"
    done = subprocess.run(
        [tool, "verify", *[str(tmp_path / u.name) for u in UNITS]],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_caddyfile_is_valid() -> None:
    tool = shutil.which("caddy")
    assert tool, "caddy missing: scripts/setup.sh installs it"
    done = subprocess.run(
        [tool, "validate", "--config", str(DEPLOY / "caddy" / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr
    # Server-Sent Events must not be buffered by the proxy.
    assert "flush_interval -1" in (DEPLOY / "caddy" / "Caddyfile").read_text()


def test_logrotate_config_parses(tmp_path: Path) -> None:
    """logrotate reads the file; the vigie user exists on the server only, so root stands in."""
    tool = shutil.which("logrotate")
    assert tool, "logrotate missing: scripts/setup.sh installs it"
    conf = tmp_path / "vigie"
    conf.write_text((DEPLOY / "logrotate" / "vigie").read_text().replace("vigie vigie", "root root"))
    done = subprocess.run(
        [tool, "--debug", "--state", str(tmp_path / "state"), str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    assert "rotating pattern: /var/log/vigie/*.log" in done.stderr
