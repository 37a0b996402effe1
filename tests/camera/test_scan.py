"""`vigie camera scan`: JSON format, text output, bad files and a clear non-zero exit."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from camera.errors import CameraInputError
from camera.scan import scan_command, scan_file
from simulators.webcam.scene import Scene, SceneConfig
from simulators.webcam.writer import write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    d = tmp_path_factory.mktemp("scan")
    scene = Scene(SceneConfig(seconds=60, width=320, height=180, wind="breeze", seed=2))
    path = d / "clip.mp4"
    write_video(scene, path, d / "clip.json")
    return path, json.loads((d / "clip.json").read_text())


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("scan")(scan_command)

    @app.command("noop")
    def noop() -> None:  # a second command keeps "scan" a sub-command, as in `vigie camera`
        pass

    return app


def test_json_output_is_one_object_per_event_then_the_summary(
    clip: tuple[Path, dict[str, object]],
) -> None:
    path, truth = clip
    out = io.StringIO()
    summary = scan_file(path, "frigate_like", out=out, as_json=True)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    *events, last = lines
    assert last == {
        "summary": {
            "frames": 300,
            "seconds": pytest.approx(59.8, abs=0.01),
            "events": len(events),
            "cpu_s": pytest.approx(summary.cpu_s, abs=0.01),
        }
    }
    assert set(last["summary"]) == {"frames", "seconds", "events", "cpu_s"}
    assert events, "the clip has an animal"
    for ev in events:
        assert set(ev) == {"start_s", "end_s", "peak_score", "confidence", "doubt_guard", "boxes"}
        assert 0.0 < ev["confidence"] <= 1.0 and ev["doubt_guard"] in (None, "light_change", "ir_switch")
        assert 0.0 <= ev["start_s"] < ev["end_s"] <= 60.0
        assert 0.0 < ev["peak_score"] <= 1.0
        assert ev["boxes"] and all(len(b) == 4 for b in ev["boxes"])
        assert all(0.0 <= v <= 1.0 for b in ev["boxes"] for v in b)
    animals = truth["animals"]
    assert isinstance(animals, list)
    first = animals[0]
    assert any(e["start_s"] <= first["end_s"] and e["end_s"] >= first["start_s"] for e in events)


def test_cli_json_and_text(clip: tuple[Path, dict[str, object]]) -> None:
    path, _ = clip
    runner = CliRunner()
    res = runner.invoke(_app(), ["scan", str(path), "--detector", "mog2", "--json"])
    assert res.exit_code == 0, res.output
    last = json.loads(res.stdout.splitlines()[-1])
    assert last["summary"]["frames"] == 300
    text = runner.invoke(_app(), ["scan", str(path)])
    assert text.exit_code == 0
    assert "300 images" in text.stdout


def test_scrambled_video_is_a_clear_error(clip: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    path, _ = clip
    data = bytearray(path.read_bytes())
    for i in range(200, len(data), 7):  # keep the first bytes, scramble the rest
        data[i] = (data[i] * 31 + 7) % 256
    bad = tmp_path / "scrambled.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(CameraInputError, match=r"scrambled\.mp4"):
        scan_file(bad, "frigate_like")
    res = CliRunner().invoke(_app(), ["scan", str(bad), "--json"])
    assert res.exit_code == 1
    assert "erreur" in res.stderr and "scrambled.mp4" in res.stderr


def test_truncated_video_keeps_what_was_decoded(clip: tuple[Path, dict[str, object]], tmp_path: Path) -> None:
    path, _ = clip
    data = path.read_bytes()
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(data[: len(data) // 2])
    summary = scan_file(bad, "frigate_like")
    assert 0 < summary.frames < 300


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"station;pluie\n1;2\n", "notes.csv"),
        (b"", "empty.mp4"),
        (b"\x00" * 5000, "zeros.mp4"),
        (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\xff" * 3000, "fake.avi"),
    ],
)
def test_non_video_files_exit_non_zero_with_a_message(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CameraInputError):
        scan_file(path, "frigate_like")
    res = CliRunner().invoke(_app(), ["scan", str(path), "--json"])
    assert res.exit_code != 0
    assert "erreur" in res.stderr
    assert res.stdout == ""


def test_missing_file_and_unknown_detector(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(_app(), ["scan", str(tmp_path / "absent.mp4")])
    assert res.exit_code == 1 and "introuvable" in res.stderr
    res = runner.invoke(_app(), ["scan", str(tmp_path / "absent.mp4"), "--detector", "yolo"])
    assert res.exit_code == 2 and "inconnu" in res.stderr
