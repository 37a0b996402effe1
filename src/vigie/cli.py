"""The one `vigie` command. Services plug in their sub-commands through the `vigie.commands`
entry-point group, so this shared module never imports a service."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from vigie import backup, proof, stations_cli
from vigie.broker import Bridge, init_broker, read_credentials
from vigie.db import APP_CLI, connect
from vigie.errors import ConfigError
from vigie.logins import ensure_logins
from vigie.logs import setup_logging_from
from vigie.migrate import migrate, pending
from vigie.service_secrets import child_env, split_credentials, write_env_files
from vigie.settings import Settings
from vigie.supervise import Child, supervise

log = logging.getLogger(__name__)

app = typer.Typer(help="Vigie: rain gauges and wildlife webcams of the Deux Vallées.", no_args_is_help=True)
broker_app = typer.Typer(help="The project's own Mosquitto configuration.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
db_app = typer.Typer(help="The database's service roles and their logins.", no_args_is_help=True)
app.add_typer(db_app, name="db")
secrets_app = typer.Typer(help="Each service's own credentials.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
app.add_typer(stations_cli.app, name="stations")
incidents_app = typer.Typer(help="Incidents: proof of warning.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")

# What `vigie up` runs, one process each; a service that is not installed is skipped.
SERVICES: tuple[tuple[str, ...], ...] = (("ingest",), ("api",), ("alerts",), ("camera", "run"))


@app.command("migrate")
def migrate_cmd(
    check: Annotated[
        bool, typer.Option("--check", help="Only say what would run; exit 1 if anything would")
    ] = False,
) -> None:
    """Apply pending database migrations, all in one transaction."""
    settings = Settings()
    setup_logging_from(settings)
    if check:
        todo = pending(settings.database_url.get_secret_value())
        typer.echo(f"{len(todo)} migration(s) to apply" + (": " + ", ".join(todo) if todo else ""))
        raise typer.Exit(1 if todo else 0)
    applied = migrate(settings.database_url.get_secret_value())
    typer.echo(f"{len(applied)} migration(s) applied" + (": " + ", ".join(applied) if applied else ""))


@db_app.command("roles")
def db_roles(
    credentials_file: Annotated[
        Path | None,
        typer.Option(help="Where the logins' passwords are kept (default: VIGIE_DATABASE_CREDENTIALS_FILE)"),
    ] = None,
) -> None:
    """Create this deployment's service logins (as the migration login); keep their passwords."""
    settings = Settings()
    setup_logging_from(settings)
    path = credentials_file or settings.database_credentials_file
    if path is None:
        raise typer.BadParameter("give --credentials-file or set VIGIE_DATABASE_CREDENTIALS_FILE")
    logins = ensure_logins(settings.database_url.get_secret_value(), path, settings.database_login_prefix)
    typer.echo(f"{len(logins)} login(s) ready ({', '.join(logins)}); passwords in {path}")


@secrets_app.command("split")
def secrets_split(
    directory: Annotated[Path, typer.Argument(help="Writes <directory>/<service>/database.env, mqtt.env")],
    owner: Annotated[int | None, typer.Option(help="uid that will read them (the containers' user)")] = None,
    env_files: Annotated[
        bool, typer.Option("--env-files", help="Write <directory>/<service>.env for systemd instead")
    ] = False,
) -> None:
    """Give each service only its own passwords: a directory each (docker-compose), or an
    EnvironmentFile each (deploy/systemd)."""
    settings = Settings()
    try:
        if env_files:
            written = write_env_files(settings, directory)
        else:
            written = split_credentials(settings, directory, owner)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"{len(written)} file(s) written under {directory}")


@broker_app.command("init")
def broker_init(
    directory: Annotated[
        Path | None, typer.Option(help="Where to write conf, passwd, acl (default: VIGIE_BROKER__DIRECTORY)")
    ] = None,
    port: Annotated[int, typer.Option(help="Services listener port")] = 18830,
    bind: Annotated[str, typer.Option(help="Listener address (0.0.0.0 inside a container)")] = "127.0.0.1",
    device_port: Annotated[int | None, typer.Option(help="Devices listener port (default: port + 1)")] = None,
    device_bind: Annotated[str | None, typer.Option(help="Devices listener address (default: bind)")] = None,
    gateway: Annotated[
        list[str] | None, typer.Option(help="Gateway account to create: vigie-simulator, chirpstack")
    ] = None,
    tls: Annotated[bool, typer.Option("--tls", help="TLS on both listeners (own CA or supplied)")] = False,
    tls_host: Annotated[
        list[str] | None, typer.Option(help="Name or address the server certificate must carry")
    ] = None,
    bridge_to: Annotated[
        str | None, typer.Option(help="An edge broker: bridge the gauges' topics to the core at HOST:PORT")
    ] = None,
    bridge_name: Annotated[str, typer.Option(help="This edge's name (its bridge's client id)")] = "edge",
    bridge_credentials: Annotated[
        Path | None, typer.Option(help="The core's credentials.env, or a file with its vigie-bridge= line")
    ] = None,
    bridge_ca: Annotated[Path | None, typer.Option(help="The core's CA, when it speaks TLS")] = None,
) -> None:
    """Write mosquitto.conf, the password file, the ACL and credentials.env.

    Device accounts (in passwd) survive a rerun; service passwords are kept. With
    --bridge-to, the broker is an edge: its gauges' topics go to the core broker (make the core
    with --gateway vigie-bridge; docs/operations.md, "The next broker").
    """
    settings = Settings()
    where = directory or settings.broker.directory
    if where is None:
        typer.echo("error: give --directory or set VIGIE_BROKER__DIRECTORY", err=True)
        raise typer.Exit(2)
    try:
        tls_files = None
        if tls:
            # Imported here: cryptography would cost every service's start ~0.05 CPU s.
            from vigie.broker_tls import ensure_generated, supplied

            b = settings.broker
            tls_files = supplied(b.tls_ca_file, b.tls_cert_file, b.tls_key_file) or ensure_generated(
                where.resolve(), tls_host or []
            )
        bridge = None
        if bridge_to is not None:
            bridge = _bridge(bridge_to, bridge_name, bridge_credentials, bridge_ca)
        files = init_broker(
            where,
            port,
            bind=bind,
            device_port=device_port,
            device_bind=device_bind,
            gateways=gateway or [],
            tls=tls_files,
            bridge=bridge,
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(str(files.conf))
    if tls_files is not None:
        typer.echo(f"CA for services and devices: {tls_files.ca_cert}")


def _bridge(to: str, name: str, credentials: Path | None, ca: Path | None) -> Bridge:
    """The edge's Bridge from the command line; the password comes from a file, never argv."""
    host, _, port = to.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--bridge-to: HOST:PORT expected, not {to!r}")
    password = read_credentials(credentials).get("vigie-bridge") if credentials else None
    if not password:
        raise ConfigError("--bridge-credentials: a file with the core's vigie-bridge=<password> line")
    return Bridge(name, host, int(port), password, cafile=ca)


@incidents_app.command("verify")
def incidents_verify(
    incident_id: Annotated[int, typer.Argument(help="The incident's number")],
    head: Annotated[
        str | None, typer.Option(help="The chain head printed on an export, to compare with")
    ] = None,
) -> None:
    """Check the hash chain of an incident's delivery log; exit 1 if any link is broken."""
    settings = Settings()
    with connect(settings.database_url.get_secret_value(), application_name=APP_CLI) as conn:
        verdict = proof.verify(conn, incident_id, head)
    if verdict.ok:
        typer.echo(
            f"incident {incident_id} : chaîne intègre, {verdict.rows} maillon(s), tête {verdict.head}"
        )
        return
    typer.echo(f"incident {incident_id} : chaîne ROMPUE ({verdict.rows} maillon(s))", err=True)
    for problem in verdict.problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(1)


_MEDIA_HELP = "Clips and snapshots (default: camera.media_dir)"
_BROKER_HELP = "The broker's config directory (default: broker.directory)"


@app.command("backup")
def backup_cmd(
    target: Annotated[Path, typer.Argument(help="New directory to write the backup into")],
    media_dir: Annotated[Path | None, typer.Option(help=_MEDIA_HELP)] = None,
    broker_dir: Annotated[Path | None, typer.Option(help=_BROKER_HELP)] = None,
) -> None:
    """Back up the database (pg_dump), the media files and the broker's config, with a manifest."""
    settings = Settings()
    setup_logging_from(settings)
    manifest = backup.backup(
        settings.database_url.get_secret_value(), target,
        media_dir=media_dir or settings.camera.media_dir,
        broker_dir=broker_dir or settings.broker.directory,
        pg_root=settings.backup.pg_root, progress=typer.echo,
    )
    rows = sum(manifest["tables"].values())
    files = sum(len(a["files"]) for a in manifest["archives"].values())
    typer.echo(f"{rows} lignes, {files} fichiers : {target}")


@app.command("restore")
def restore_cmd(
    source: Annotated[Path, typer.Argument(help="A directory written by vigie backup")],
    media_dir: Annotated[Path | None, typer.Option(help=_MEDIA_HELP)] = None,
    broker_dir: Annotated[Path | None, typer.Option(help=_BROKER_HELP)] = None,
) -> None:
    """Restore a backup into the (empty) database of VIGIE_DATABASE_URL; exit 1 unless all came back."""
    settings = Settings()
    setup_logging_from(settings)
    report = backup.restore(
        source, settings.database_url.get_secret_value(),
        media_dir=media_dir or settings.camera.media_dir,
        broker_dir=broker_dir or settings.broker.directory,
        pg_root=settings.backup.pg_root, progress=typer.echo,
    )
    rows = sum(got for _, got in report.tables.values())
    typer.echo(f"{len(report.tables)} tables, {rows} lignes, {sum(report.files.values())} fichiers vérifiés")
    for problem in report.problems:
        typer.echo(f"  - {problem}", err=True)
    if not report.ok:
        raise typer.Exit(1)


def _registered() -> set[str]:
    return {ep.name for ep in entry_points(group="vigie.commands")}


@app.command("up")
def up(
    only: Annotated[list[str] | None, typer.Option(help="Run only these services")] = None,
    extra: Annotated[
        list[str] | None, typer.Option(help="Extra commands to supervise, e.g. 'simulate gauges'")
    ] = None,
) -> None:
    """Run every service of a small site (one process each) until Ctrl-C or SIGTERM.

    A service that exits, or whose work loop stalls, is restarted with a bounded backoff."""
    settings = Settings()
    setup_logging_from(settings)
    admin_url = settings.database_url.get_secret_value()
    migrate(admin_url)
    if settings.database_credentials_file is not None:
        ensure_logins(admin_url, settings.database_credentials_file, settings.database_login_prefix)
    else:
        log.warning(
            "VIGIE_DATABASE_CREDENTIALS_FILE is not set: every service uses the migration login"
        )
    registered = _registered() | {"migrate"}
    commands = [c for c in SERVICES if c[0] in registered and (not only or c[0] in only)]
    try:
        # Each service gets its own credentials only; the extras (simulators, sinks) are demo
        # tools run with ours.
        children = []
        for command in commands:
            env, unset = child_env(settings, command[0])
            children.append(Child(command, env, unset=unset))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    children += [Child(tuple(e.split())) for e in extra or []]
    # Exit 0 whatever the children said: each one that stopped badly is logged by name.
    # With the database URL (the migration login's), a child whose work loop stalls is
    # restarted too (vigie.heartbeat).
    supervise(children, settings.liveness, admin_url)


def _load_plugins(args: list[str]) -> None:
    """Attach the services' commands: a Typer app becomes a group, a function a command.

    Only the service being run is imported: importing every service would give each process
    every other's libraries (OpenCV, PyAV, FastAPI, Apprise), 134 MB of RSS for `vigie ingest`
    instead of about 55. A built-in command loads none; help or an unknown name loads all, so
    that the list of commands stays complete.
    """
    first = next((a for a in args if not a.startswith("-")), None)
    builtin = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    plugins = sorted(entry_points(group="vigie.commands"), key=lambda e: e.name)
    if first in builtin:
        return
    if first in {ep.name for ep in plugins}:
        plugins = [ep for ep in plugins if ep.name == first]
    for ep in plugins:
        target = ep.load()
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            app.command(ep.name)(target)


def main() -> None:
    """Entry point of the `vigie` console script."""
    _load_plugins(sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
