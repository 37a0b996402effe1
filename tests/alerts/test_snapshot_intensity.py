"""The intensity rule's raw rows: the pass reads only those that can change a rate (issue 14).

alerts.snapshot._RECENT_SQL leaves out the dry rows that hydrology.tip_intensity_mm_h would walk
over without stopping; these tests compare its rates with those from every row of the lookback,
on random gauges (10 s to 5 min intervals, gaps, showers and long dry spells).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerts.hydrology import tip_intensity_mm_h
from alerts.snapshot import load_directory, load_snapshot
from tests.alerts.rain import T0
from tests.factories import make_station

Conn = psycopg.Connection[Any]


def _random_gauge(db: Conn, sid: str, rng: random.Random) -> None:
    make_station(db, sid, interval_s=10)
    rows, ts = [], T0 - timedelta(minutes=90)
    wet = False
    while ts < T0 + timedelta(minutes=30):
        interval = rng.choice((10, 10, 10, 60, 300))
        ts += timedelta(seconds=interval + (rng.choice((0, 0, 0, 0, 240)) if not wet else 0))
        if rng.random() < 0.03:
            wet = not wet  # a shower starts or ends
        tips = (rng.random() < 0.5) * rng.randint(1, 3) if wet else int(rng.random() < 0.01)
        rows.append((sid, ts, interval, tips, round(tips * 0.2, 1), ts))
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO rain_readings (station_id, ts, interval_s, tips, mm, received_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    # The pass reads raw rows only for gauges wet in the window that covers the lookback.
    db.execute(
        "INSERT INTO rain_5min SELECT station_id, time_bucket('5 minutes', ts), sum(mm), count(*)"
        " FROM rain_readings WHERE station_id = %s GROUP BY 1, 2",
        (sid,),
    )


@pytest.mark.parametrize("seed", range(4))
def test_rates_from_the_rows_read_equal_the_rates_from_every_row(db: Conn, seed: int) -> None:
    rng = random.Random(seed)
    ids = [f"rand-{seed}-{i}" for i in range(6)]
    for sid in ids:
        _random_gauge(db, sid, rng)
    d = load_directory(db)
    read = every = compared = raining = 0
    for minute in range(0, 30, 3):
        now = T0 + timedelta(minutes=minute, seconds=rng.randint(0, 59))
        for spans, lookbacks in (((5,), (60,)), ((5, 15), (30, 60)), ((10,), (10,))):
            lookback = max(lookbacks)
            kw: dict[str, Any] = {"growing_season": False, "status": False,
                                  "intensity_lookback_min": lookback}
            full = load_snapshot(db, d, now, ids, **kw)
            few = load_snapshot(db, d, now, ids, intensity_lookbacks=lookbacks,
                                intensity_span_min=max(spans), **kw)
            for sid in ids:
                every += len(full.recent.get(sid, []))
                read += len(few.recent.get(sid, []))
                for span in spans:
                    for lb in lookbacks:
                        if lb < span:
                            continue
                        rate = tip_intensity_mm_h(full.recent.get(sid, []), now, 0.2, span, lb)
                        assert tip_intensity_mm_h(few.recent.get(sid, []), now, 0.2, span, lb) \
                            == rate, (sid, now, span, lb)
                        compared += 1
                        raining += rate > 0
    assert compared == 10 * len(ids) * 6
    assert 0 < raining < compared  # showers and dry spells both compared
    # What the change is for: the dry rows are left out (these gauges are wetter than most).
    assert 0 < read < every * 0.8, (read, every)
