"""Ground truth: what the simulator sent, so tests and benchmarks can compare with the DB."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulators.gauges.model import Message


@dataclass
class StationTruth:
    """One station: its distinct readings (epoch ts → tips) and the faults it was given."""

    tip_mm: float
    readings: dict[int, int] = field(default_factory=dict)
    messages: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    unsent: int = 0  # still in the device's buffer when the run stopped
    overwritten: int = 0  # dropped by a full store-and-forward ring buffer

    @property
    def tips(self) -> int:
        """Total tips of the distinct readings."""
        return sum(self.readings.values())

    @property
    def mm(self) -> float:
        """Total depth, as Vigie computes it (tips * tip size)."""
        return round(self.tips * self.tip_mm, 6)


@dataclass
class Truth:
    """Everything the run sent, per station, plus what ingest should dead-letter."""

    started_at: datetime
    stations: dict[str, StationTruth] = field(default_factory=dict)
    messages: int = 0
    status_messages: int = 0
    expected_dead_letters: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    no_subscriber: int = 0  # acknowledged with 0x10: dropped by the broker, counted as sent

    def add_station(self, station: str, tip_mm: float) -> None:
        """Declare a station (so stations without readings still appear)."""
        self.stations.setdefault(station, StationTruth(tip_mm))

    def record(self, message: Message) -> None:
        """Account for one message handed to the broker."""
        self.messages += 1
        st = self.stations[message.station]
        st.messages += 1
        if message.fault is not None:
            st.faults[message.fault] = st.faults.get(message.fault, 0) + 1
            self.faults[message.fault] = self.faults.get(message.fault, 0) + 1
        if message.kind == "status":
            self.status_messages += 1
            return
        if message.fault in (None, "clock_skew", "out_of_order", "duplicate"):
            for reading in message.readings:
                st.readings[reading.ts] = reading.tips

    @property
    def readings(self) -> int:
        """Distinct readings sent, over the fleet: what the database must hold."""
        return sum(len(s.readings) for s in self.stations.values())

    @property
    def tips(self) -> int:
        """Tips sent, over the fleet."""
        return sum(s.tips for s in self.stations.values())

    def to_dict(self, *, with_readings: bool = True) -> dict[str, Any]:
        """A JSON-ready summary; readings as sorted [epoch ts, tips] pairs."""
        return {
            "started_at": self.started_at.astimezone(UTC).isoformat(),
            "written_at": datetime.now(UTC).isoformat(),
            "messages": self.messages,
            "status_messages": self.status_messages,
            "readings": self.readings,
            "tips": self.tips,
            "refused": self.refused,
            "no_subscriber": self.no_subscriber,
            "faults": dict(sorted(self.faults.items())),
            "expected_dead_letters": dict(sorted(self.expected_dead_letters.items())),
            "stations": {
                sid: {
                    "readings": len(st.readings),
                    "tips": st.tips,
                    "mm": st.mm,
                    "messages": st.messages,
                    "faults": dict(sorted(st.faults.items())),
                    "unsent": st.unsent,
                    "overwritten": st.overwritten,
                    **(
                        {"sent": [[ts, tips] for ts, tips in sorted(st.readings.items())]}
                        if with_readings
                        else {}
                    ),
                }
                for sid, st in sorted(self.stations.items())
            },
        }

    def write(self, path: Path, *, with_readings: bool = True) -> None:
        """Write the JSON atomically (a reader never sees half a file)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(with_readings=with_readings), ensure_ascii=False))
        os.replace(tmp, path)
