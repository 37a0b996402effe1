"""One Settings object for every service, read from VIGIE_* environment variables.

Nested sections use a double underscore: VIGIE_INGEST__BATCH_SIZE=5000. Build it in main() and
pass it down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Section(BaseModel):
    """Base of nested sections: unknown keys are a configuration error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestSettings(Section):
    """The MQTT → TimescaleDB ingest service."""

    client_id: str = "vigie-ingest-1"
    share_group: str = "vigie-ingest"
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # How many unacknowledged QoS 1 messages the broker may send us (MQTT 5 Receive Maximum).
    receive_maximum: int = Field(default=20000, ge=1, le=65535)
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    flush_interval_s: float = Field(default=0.25, gt=0, le=10)
    queue_size: int = Field(default=50_000, ge=10)
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


class ApiSettings(Section):
    """The FastAPI service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    admin_token: SecretStr = SecretStr("")
    public_url: str = "http://127.0.0.1:8080"


class AlertsSettings(Section):
    """The alert engine and notifier (owned by src/alerts)."""


class CameraSettings(Section):
    """The camera worker (owned by src/camera)."""


class Settings(BaseSettings):
    """All of Vigie's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:55432/vigie")
    mqtt_url: SecretStr = SecretStr("mqtt://127.0.0.1:18830")
    topic_root: str = "vigie/v1"
    log_level: str = "INFO"
    timezone: str = "Europe/Paris"
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    alerts: AlertsSettings = AlertsSettings()
    camera: CameraSettings = CameraSettings()
