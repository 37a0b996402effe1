"""One Settings object for every service, read from VIGIE_* environment variables.

Nested sections use a double underscore: VIGIE_INGEST__BATCH_SIZE=5000. Build it in main() and
pass it down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Section(BaseModel):
    """Base of nested sections: unknown keys are a configuration error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FloodLimit(Section):
    """Per-device message limit: one device cannot fill dead_letters or starve the others.

    A token bucket per device (station id or devEUI) and per ingest process: `burst` messages
    at once, refilled at `max_per_minute`. The burst lets a backlog the broker queued while
    ingest was stopped (a day of one-minute readings is 1,440 messages) through untouched.
    """

    max_per_minute: int = Field(default=120, ge=1)
    burst: int = Field(default=20_000, ge=1)
    # Excess payloads kept (each up to 4 KiB) per device and minute; the rest are counted only.
    keep_payloads: int = Field(default=20, ge=0, le=1000)


class IngestSettings(Section):
    """The MQTT → TimescaleDB ingest service."""

    client_id: str = "vigie-ingest-1"
    # Subscribe through `$share/<share_group>/...`: needed as soon as more than one ingest process
    # reads the fleet (`processes` > 1 sets it for its workers; ingest on several hosts sets it on
    # each). A lone ingest subscribes plainly because Mosquitto brings a persistent session's plain
    # subscriptions back after a restart, not its shared ones: a reading published between the
    # restart and ingest's new SUBSCRIBE reached no subscriber and was dropped (docs/ingest.md).
    shared_subscription: bool = False
    share_group: str = "vigie-ingest"
    # Processes on the shared subscription. One process is bound to one core by Python's GIL:
    # on a machine with more cores, more processes keep up with a faster fleet (docs/mqtt.md).
    processes: int = Field(default=1, ge=1, le=64)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # How many unacknowledged QoS 1 messages the broker may send us (MQTT 5 Receive Maximum).
    receive_maximum: int = Field(default=10000, ge=1, le=65535)
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    flush_interval_s: float = Field(default=0.25, gt=0, le=10)
    # A batch waits at least this long for company, then commits as soon as the queue is empty.
    linger_s: float = Field(default=0.05, ge=0, le=10)
    queue_size: int = Field(default=10_000, ge=10)
    max_payload_bytes: int = Field(default=64 * 1024, ge=256)
    max_batch_readings: int = Field(default=10_000, ge=1)
    max_rate_mm_h: float = Field(default=500.0, gt=0)
    future_tolerance_s: float = Field(default=300.0, ge=0)
    clock_skew_flag_s: float = Field(default=30.0, ge=0)
    double_tip_gap_ms: int = Field(default=500, ge=0)
    raw_retention_days: int = Field(default=400, ge=1)
    dead_letter_retention_days: int = Field(default=90, ge=1)
    retention_check_s: int = Field(default=3600, ge=10)
    metrics_interval_s: float = Field(default=2.0, gt=0)
    flood: FloodLimit = FloodLimit()


class ApiSettings(Section):
    """The FastAPI service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Shown in every page's header.
    territory_name: str = "Communauté de communes des Deux Vallées"
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (docs/api.md).
    trusted_proxies: tuple[str, ...] = ()
    # A streaming replica of the database (docs/operations.md, "Read replica"): the read-only
    # paths that tolerate being a moment behind (series, exports, the public map, the live
    # stream's catch-up) read there; writes and read-after-write stay on database_url. Like
    # database_url, without a login it takes the API's own from the credentials file.
    read_database_url: SecretStr | None = None


class AuthSettings(Section):
    """Accounts, sessions, API tokens and the sign-in limiter (owned by src/api/accounts)."""

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # "auto": Secure cookies when the request came over TLS (directly or from a trusted proxy).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    token_days_default: int = Field(default=90, ge=1, le=3650)
    token_days_max: int = Field(default=730, ge=1, le=3650)
    signin_window_s: int = Field(default=15 * 60, ge=1, le=24 * 3600)
    signin_max_per_account: int = Field(default=5, ge=1, le=1000)
    signin_max_per_ip: int = Field(default=30, ge=1, le=100_000)
    password_min_length: int = Field(default=12, ge=8, le=128)


class AlertsSettings(Section):
    """The alert engine and notifier (owned by src/alerts)."""

    # Engine (alerts-engine).
    sweep_interval_s: float = Field(default=60.0, ge=1, le=3600)
    reminder_interval_min: int = Field(default=30, ge=1, le=1440)
    growing_season_months: tuple[int, ...] = (4, 5, 6, 7, 8, 9)
    listen_idle_s: float = Field(default=1.0, gt=0, le=60)
    # Stations that got only dry readings are evaluated by a catch-up pass at most this late.
    dry_delay_s: float = Field(default=5.0, ge=0, le=300)
    station_cache_s: float = Field(default=60.0, ge=0, le=3600)
    stuck_readings: int = Field(default=12, ge=3, le=1000)
    # Notifier (alerts-notify): see docs/alerts.md, "Notifications".
    # Follow-ups (yellow opens, de-escalations, ends) wait this long so that one storm over
    # several stations goes out as one message; a new orange/red never waits.
    group_hold_s: float = Field(default=30.0, ge=0, le=3600)
    workers: int = Field(default=16, ge=1, le=256)
    # The workers' database connections: a worker holds one only to compose a message and to
    # record its outcome (milliseconds), never while it sends, so a few serve sixteen workers.
    # Above one, they are closed after notifier_idle_s without use (one per period).
    db_connections: int = Field(default=4, ge=1, le=64)
    notifier_idle_s: float = Field(default=60.0, ge=1, le=3600)
    # A delivery left 'sending' longer than this is presumed lost with its sender and resent.
    lease_s: float = Field(default=120.0, ge=1, le=3600)
    retry_base_s: float = Field(default=30.0, gt=0, le=3600)
    retry_max_s: float = Field(default=1800.0, gt=0, le=86400)
    max_attempts: int = Field(default=10, ge=1, le=1000)
    # Fallback poll when no NOTIFY arrives (a lost notification costs at most this much).
    poll_s: float = Field(default=1.0, gt=0, le=60)
    send_timeout_s: float = Field(default=15.0, gt=0, le=300)
    # Changes older than this when first seen (notifier down for days) are logged, not sent.
    max_change_age_h: float = Field(default=24.0, gt=0, le=24 * 30)
    rain_table_hours: int = Field(default=6, ge=1, le=48)


class SignupSettings(Section):
    """Residents' own sign-up (public API, double opt-in): see docs/signup.md."""

    # Apprise URLs of the gateways that reach residents, with {number} (E.164) or {email}: the
    # same SMS gateway as the notifier's (smseagle://TOKEN@host/{number}). Secrets: never logged.
    sms_url: SecretStr = SecretStr("")
    email_url: SecretStr = SecretStr("")
    # Shared secret of the SMS gateway's inbound webhook (STOP replies); empty disables it.
    inbound_token: SecretStr = SecretStr("")
    code_ttl_s: int = Field(default=900, ge=60, le=86400)
    code_attempts: int = Field(default=5, ge=1, le=20)
    # Sign-up requests allowed per address and per client IP in each window.
    per_address_hour: int = Field(default=3, ge=1, le=1000)
    per_address_day: int = Field(default=6, ge=1, le=10_000)
    per_ip_hour: int = Field(default=10, ge=1, le=10_000)
    per_ip_day: int = Field(default=50, ge=1, le=100_000)
    send_timeout_s: float = Field(default=10.0, gt=0, le=120)


class CameraSettings(Section):
    """The camera worker (owned by src/camera)."""

    media_dir: Path = Path("media")
    # Cameras to add or update in the database at start-up (TOML, see docs/camera.md).
    config_file: Path | None = None
    disk_quota_bytes: int = Field(default=200 * 1024**3, ge=0)
    # Below this much free space the worker stops writing new clips rather than fill the disk.
    min_free_bytes: int = Field(default=2 * 1024**3, ge=0)
    watchdog_s: float = Field(default=10.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    queue_size: int = Field(default=30, ge=2, le=10_000)
    jpeg_quality: int = Field(default=80, ge=10, le=100)
    thumbnail_width: int = Field(default=320, ge=32, le=1920)
    max_part_bytes: int = Field(default=20 * 1024**2, ge=1024)
    # Cap of the JPEG pre-roll ring per camera, whatever the resolution and frame rate.
    ring_max_bytes: int = Field(default=48 * 1024**2, ge=1024**2)
    health_interval_s: float = Field(default=10.0, gt=0, le=3600)
    # How often the current view (the admin page's picture to draw masks on) is rewritten.
    view_interval_s: float = Field(default=5.0, ge=0.2, le=3600)
    retention_check_s: int = Field(default=3600, ge=10)
    client_id: str = "vigie-camera-1"
    # People in the frame (camera.people): the HOG detector on a few frames of each closed
    # event, downscaled to this width; a score above the threshold proposes the flag.
    people_detection: bool = True
    people_width: int = Field(default=640, ge=128, le=1920)
    people_threshold: float = Field(default=0.0, ge=-2, le=5)


class BrokerSettings(Section):
    """The project's own Mosquitto: where `vigie broker init` wrote it, and its certificate."""

    # The broker directory (mosquitto.conf, passwd, mosquitto.pid): where
    # `vigie stations add/rotate-password/retire` manage device accounts.
    directory: Path | None = None
    # A certificate of the site's own for the TLS listeners (`vigie broker init --tls` uses it
    # instead of making one): the CA that signed it, the certificate (chain) and its key.
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


class MaintenanceSettings(Section):
    """When a gauge needs a visit (the maintenance list, docs/api.md)."""

    # Under this battery voltage the device is listed as "low battery" (Li-SOCl2 cells sag first).
    low_battery_v: float = Field(default=3.4, gt=0, le=10)
    # A clogged funnel: dry for 24 h while at least `clogged_neighbours` stations within
    # `clogged_radius_km` got at least `clogged_neighbour_mm` each.
    clogged_radius_km: float = Field(default=5.0, gt=0, le=100)
    clogged_neighbour_mm: float = Field(default=5.0, gt=0, le=1000)
    clogged_neighbours: int = Field(default=2, ge=1, le=100)


class OutboundSettings(Section):
    """Connections to addresses an administrator wrote (webhooks, SMTP/SMS servers, cameras)."""

    # Loopback, link-local, private and unique-local destinations are refused unless this is
    # true (vigie.outbound): the demo sets it for its local sinks and simulated webcam.
    allow_private: bool = False
    # Or only these internal networks (CIDR), e.g. the cameras' LAN: ["10.0.20.0/24"].
    allowed_networks: tuple[IPvAnyNetwork, ...] = ()


class LivenessSettings(Section):
    """Heartbeats of the work loops, and how `vigie up` acts on them (docs/liveness.md)."""

    # Each process writes its loops' heartbeats this often: one small upsert per process.
    report_s: float = Field(default=5.0, gt=0, le=300)
    # A loop with no beat for this long is stalled; a loop that turns more slowly declares more.
    stall_s: float = Field(default=60.0, gt=0, le=3600)
    # How often `vigie up` reads its children's heartbeats.
    check_s: float = Field(default=5.0, gt=0, le=300)
    restart_stalled: bool = True
    # A child asked to stop (SIGTERM) is killed after this long: a stalled one may never stop.
    stop_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Restart delay: base_s doubling to max_s; a run of healthy_run_s resets it to base_s.
    backoff_base_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    healthy_run_s: float = Field(default=60.0, gt=0, le=86400)


class BackupSettings(Section):
    """`vigie backup` and `vigie restore` (src/vigie/backup.py)."""

    # A Debian root with PostgreSQL client tools of the server's version, run with chroot, for
    # hosts whose own are older (the project's TimescaleDB root on Debian 12).
    pg_root: Path | None = None


class Settings(BaseSettings):
    """All of Vigie's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:55432/vigie")
    # With database_credentials_file set, each service logs in as its own role
    # (<database_login_prefix><service>, e.g. vigie_login_ingest) with the password from that file
    # (`role=password` lines, written by `vigie db roles`), whatever user database_url names:
    # the URL's own user is then the migration login (vigie migrate, vigie up). Without the file,
    # every service uses database_url as it is (a per-service URL, or one login for all).
    database_credentials_file: Path | None = None
    # Login role names are cluster-wide: two deployments on one PostgreSQL need two prefixes.
    database_login_prefix: str = Field(default="vigie_login_", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    mqtt_url: SecretStr = SecretStr("mqtt://127.0.0.1:18830")
    # When mqtt_url carries no user, each service logs in with its own account, whose password
    # it reads from this file (`user=password` lines, written by `vigie broker init`).
    mqtt_credentials_file: Path | None = None
    # For mqtts:// URLs: the CA the broker's certificate must chain to (None: the system's CAs).
    mqtt_ca_file: Path | None = None
    topic_root: str = "vigie/v1"
    log_level: str = "INFO"
    # "json": one JSON object per line, for a log shipper; "text" for people.
    log_format: Literal["text", "json"] = "text"
    # Log to this file instead of stderr (rotated by logrotate: deploy/logrotate/vigie). Under
    # systemd, leave it unset: journald keeps and rotates stderr.
    log_file: Path | None = None
    # Diagnostics (vigie.memtrace): with a directory, `vigie alerts` runs under tracemalloc and
    # writes a memory report there every memtrace_interval_s. Slows the process: measurement only.
    memtrace_dir: Path | None = None
    memtrace_interval_s: float = Field(default=60.0, ge=1, le=86400)
    timezone: str = "Europe/Paris"
    # The site's public address (one for every service): links in SMS, e-mails, the CAP feed
    # and the incident pages point under it (vigie.urls).
    public_url: str = "http://127.0.0.1:8080"
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    alerts: AlertsSettings = AlertsSettings()
    camera: CameraSettings = CameraSettings()
    broker: BrokerSettings = BrokerSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    outbound: OutboundSettings = OutboundSettings()
    liveness: LivenessSettings = LivenessSettings()
    signup: SignupSettings = SignupSettings()
    backup: BackupSettings = BackupSettings()
