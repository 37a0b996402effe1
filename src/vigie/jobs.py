"""Scheduled jobs that say once when they start failing and once when they recover."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


@dataclass
class JobHealth:
    """Last outcome of a job, for health reports."""

    name: str
    failing: bool = False
    last_success: datetime | None = None
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def guarded(
    name: str, func: Callable[[], object], health: JobHealth | None = None
) -> Callable[[], None]:
    """Wrap func so that failures are logged on the first failure and on recovery only."""
    state = health or JobHealth(name)

    def run() -> None:
        try:
            func()
        except Exception as exc:  # noqa: BLE001  # a job must never kill its scheduler
            with state.lock:
                state.last_error = f"{type(exc).__name__}: {exc}"
                if not state.failing:
                    state.failing = True
                    log.error("job %s started failing: %s", name, state.last_error)
            return
        with state.lock:
            if state.failing:
                log.info("job %s recovered", name)
            state.failing = False
            state.last_success = datetime.now(UTC)

    return run


def make_scheduler() -> BackgroundScheduler:
    """A background scheduler whose jobs never overlap and coalesce missed runs."""
    return BackgroundScheduler(
        timezone="UTC",
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
    )
