"""A batch the database refuses is split until the refused rows are found (issue 13).

Before, any database error kept the batch and retried it for ever: one reading PostgreSQL would
never accept (a NUL in a text field, a value a CHECK constraint refuses) stalled every gauge
behind it. Now an error that is about the data is bisected: each half is written in its own
transaction, the halves that commit stay committed, and each row that is refused on its own
becomes a `rejected_by_database` dead letter (or `internal_error` when the refusal was a Python
exception rather than the database's). Errors that are about the database (connection lost,
shutdown, deadlock, serialization) are raised as before, and the caller retries the batch.
"""

from __future__ import annotations

import json
import logging

import psycopg

from ingest.contract import Reading
from ingest.parse import DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, Parsed, printable
from ingest.writer import Committed, Conn, write_batch

log = logging.getLogger(__name__)

# SQLSTATE classes that say "this data", not "this database": data exception (22: bad encoding,
# NUL, out of range), integrity constraint violation (23: CHECK, NOT NULL, FK), program limit
# exceeded (54: e.g. an index row too large), and PL/pgSQL errors (P0: a trigger's RAISE).
DATA_REFUSALS = ("22", "23", "54", "P0")


def refused_by_data(exc: BaseException) -> bool:
    """True when retrying the same rows can only fail again, so the batch must be split."""
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate is None:
            return isinstance(exc, psycopg.DataError)  # raised client-side while adapting a value
        return exc.sqlstate[:2] in DATA_REFUSALS
    # Not a database error at all: our own code failed on this input. Splitting isolates it.
    return isinstance(exc, Exception)


def write_splitting(
    conn: Conn, parsed: list[Parsed], worker: str, max_rate_mm_h: float
) -> list[Committed]:
    """write_batch, and when the data is refused, bisect down to the refused rows.

    Returns the commits made. Raises what write_batch raises when the error is not about the data
    (the caller retries the whole batch; the parts already committed are idempotent readings).
    """
    try:
        return [write_batch(conn, parsed, worker, max_rate_mm_h)]
    except Exception as exc:  # sorted below: data refusals split, others re-raise
        if not refused_by_data(exc):
            raise
        log.warning(
            "the database refused a batch of %d messages (%s); splitting it to find the refused rows",
            len(parsed),
            _what(exc),
        )
    committed: list[Committed] = []
    refused: list[tuple[Parsed, BaseException]] = []
    _bisect(conn, _units(parsed), worker, max_rate_mm_h, committed, refused)
    dead = [letter for unit, exc in refused for letter in _as_dead_letters(unit, exc)]
    log.warning("%d rows refused by the database were dead-lettered", len(dead))
    committed.append(write_batch(conn, [Parsed(dead=dead)], worker, max_rate_mm_h, messages=len(parsed)))
    return committed


def _units(parsed: list[Parsed]) -> list[Parsed]:
    """One Parsed per reading, status and dead letter: the smallest pieces a batch splits into."""
    units: list[Parsed] = []
    for p in parsed:
        units.extend(Parsed(readings=[r]) for r in p.readings)
        units.extend(Parsed(statuses=[s]) for s in p.statuses)
        units.extend(Parsed(dead=[d]) for d in p.dead)
        units.extend(Parsed(flooded=[f]) for f in p.flooded)
    return units


def _merge(units: list[Parsed]) -> Parsed:
    return Parsed(
        readings=[r for u in units for r in u.readings],
        statuses=[s for u in units for s in u.statuses],
        dead=[d for u in units for d in u.dead],
        flooded=[f for u in units for f in u.flooded],
    )


def _bisect(
    conn: Conn,
    units: list[Parsed],
    worker: str,
    max_rate_mm_h: float,
    committed: list[Committed],
    refused: list[tuple[Parsed, BaseException]],
) -> None:
    # Recursion depth is log2(batch size): 13 levels for a 5,000-reading batch.
    if not units:
        return
    try:
        committed.append(write_batch(conn, [_merge(units)], worker, max_rate_mm_h, messages=0))
        return
    except Exception as exc:  # same sorting as write_splitting
        if not refused_by_data(exc):
            raise
        if len(units) == 1:
            refused.append((units[0], exc))
            return
    half = len(units) // 2
    _bisect(conn, units[:half], worker, max_rate_mm_h, committed, refused)
    _bisect(conn, units[half:], worker, max_rate_mm_h, committed, refused)


def _what(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error):
        primary = exc.diag.message_primary if exc.sqlstate else str(exc)
        return printable(f"{exc.sqlstate or type(exc).__name__} {primary or ''}".strip())[:400]
    return printable(f"{type(exc).__name__}: {exc}")[:400]


def _reading_json(reading: Reading) -> bytes:
    # json.dumps escapes what UTF-8 cannot carry (a lone surrogate that got this far), where
    # pydantic's serialiser would raise: the dead letter must be storable whatever it holds.
    try:
        return json.dumps(reading.model_dump(mode="json", exclude_none=True)).encode()
    except Exception:  # noqa: BLE001  # last resort: the repr still says what it was
        return repr(reading).encode("utf-8", "backslashreplace")


def _as_dead_letters(unit: Parsed, exc: BaseException) -> list[DeadLetter]:
    """The refused unit as dead letters, with only printable text (so these rows are storable)."""
    is_db = isinstance(exc, psycopg.Error)
    reason = "rejected_by_database" if is_db else "internal_error"
    exception = None if is_db else type(exc).__name__
    detail = _what(exc)
    letters: list[DeadLetter] = []
    for s in unit.readings:
        body = _reading_json(s.reading)
        letters.append(
            DeadLetter(
                printable(s.topic),
                body[:DEAD_LETTER_PAYLOAD_BYTES],
                len(body),
                reason,
                detail,
                s.received_at,
                s.station_id,
                exception,
            )
        )
    for st in unit.statuses:
        letters.append(
            DeadLetter(
                printable(st.topic),
                st.raw[:DEAD_LETTER_PAYLOAD_BYTES],
                len(st.raw),
                reason,
                detail,
                st.received_at,
                st.station_id,
                exception,
            )
        )
    for d in unit.dead:
        # A dead letter refused itself: keep its payload (bytea takes anything), say both reasons.
        letters.append(
            DeadLetter(
                printable(d.topic),
                d.payload,
                d.payload_size,
                reason,
                printable(f"{d.reason}: {d.detail}"[:200]) + " / " + detail,
                d.received_at,
                None,
                exception,
            )
        )
    for f in unit.flooded:
        letters.append(
            DeadLetter(
                f.topic,
                f.payload,
                f.size,
                reason,
                f"{f.reason} / {detail}",
                f.minute,
                f.station_id,
                exception,
            )
        )
    return letters
