"""What the scheduler is configured with: a frozen value the composition root builds from the
``[scheduler]`` settings (the scheduler never reads settings or the environment itself)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from approvals.access_review import UNUSED_AFTER

__all__ = ["DAYS", "SchedulerConfig"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """``interval``: how often expire, idle-revoke, review-timeouts, reminders and expiry-notice
    run; ``reminder_backoff``: the waits before each reminder of an unanswered review (the last
    step escalates where the connection configures it); ``expiry_notice``: how long before a
    grant ends its holder is told (grants shorter than that get no notice); the digest goes
    out weekly on ``digest_day`` at ``digest_time`` in ``digest_timezone``; lines unused for
    ``unused_after`` are flagged; sessions are read back ``lookback``; outbox events are kept
    ``outbox_retention`` (delivered or not: a consumer down longer misses them)."""

    interval: timedelta = timedelta(minutes=1)
    reminder_backoff: tuple[timedelta, ...] = (
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(minutes=45),
    )
    expiry_notice: timedelta = timedelta(days=1)
    digest_day: str = "mon"
    digest_time: time = time(9, 0)
    digest_timezone: str = "UTC"
    unused_after: timedelta = UNUSED_AFTER
    lookback: timedelta = timedelta(days=90)
    outbox_retention: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.digest_day not in DAYS:
            raise ValueError(f"digest_day must be one of {', '.join(DAYS)}")
        if self.interval < timedelta(seconds=1):
            raise ValueError("the scheduler interval must be at least 1s")
        if self.outbox_retention < timedelta(days=1):
            raise ValueError("outbox_retention must be at least 1d")
