"""The MQTT contract of docs/mqtt.md, as pydantic models validated at the edge."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

STATION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
DEV_EUI_RE = re.compile(r"^[0-9a-fA-F]{16}$")
# Free-text fields refuse C0/C1 control characters (NUL included): PostgreSQL's text type refuses
# NUL outright, and the others are terminal escapes waiting for a technician's shell. A lone
# surrogate fails pydantic's own str check first (`string_unicode`). Checked in pydantic's core
# (a regex, no Python callback per reading). Parse maps both errors to `control_character`.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"


# ISO 8601 with an offset, or epoch seconds; naive times are refused (ambiguous). pydantic's own
# parser does this without a Python callback per reading, which matters at 10,000+ readings/s.
Timestamp = AwareDatetime


class Reading(BaseModel):
    """One gauge reading. Unknown fields are ignored so newer firmware does not break ingest."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    ts: Timestamp
    seq: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)
    tips: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    counter: StrictInt | None = Field(default=None, ge=0, le=2**62)
    interval_s: StrictInt | None = Field(default=None, ge=1, le=86_400)
    battery_v: float | None = Field(default=None, ge=0, le=20)
    rssi: StrictInt | None = Field(default=None, ge=-200, le=0)
    fw: str | None = Field(default=None, max_length=32, pattern=PRINTABLE)
    min_gap_ms: StrictInt | None = Field(default=None, ge=0, le=86_400_000)
    station: str | None = Field(default=None, max_length=63, pattern=PRINTABLE)

    @model_validator(mode="after")
    def _needs_rain(self) -> Reading:
        if self.tips is None and self.counter is None:
            raise ValueError("a reading needs 'tips' or 'counter'")
        return self


class Batch(BaseModel):
    """A store-and-forward batch: {"readings": [...]}."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, frozen=True)

    readings: list[Reading]


class ChirpstackDeviceInfo(BaseModel):
    """The part of ChirpStack v4's deviceInfo that we use."""

    model_config = ConfigDict(extra="ignore")

    devEui: str = Field(pattern=DEV_EUI_RE.pattern)


class ChirpstackRx(BaseModel):
    """One gateway reception."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    rssi: int | None = None


class ChirpstackUplink(BaseModel):
    """A ChirpStack v4 `event/up` message with a decoded `object`."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    deviceInfo: ChirpstackDeviceInfo
    time: Timestamp | None = None
    fCnt: StrictInt | None = Field(default=None, ge=0)
    object: dict[str, Any]
    rxInfo: list[ChirpstackRx] = Field(default_factory=list, max_length=64)

    def reading_fields(self) -> dict[str, Any]:
        """The `object` completed with fCnt, time and the best RSSI, as a Reading's input."""
        fields = dict(self.object)
        if "seq" not in fields and self.fCnt is not None:
            fields["seq"] = self.fCnt
        if "ts" not in fields and self.time is not None:
            fields["ts"] = self.time.isoformat()
        rssis = [rx.rssi for rx in self.rxInfo if rx.rssi is not None]
        if "rssi" not in fields and rssis:
            fields["rssi"] = max(rssis)
        return fields
