"""``StoreHealth``: what one process knows of its store's ability to write, and of its backlog.

The store cannot be asked whether a write would succeed (a full disk or a read-only volume shows
only when something is written), so the writers tell it: the audit writer after each attempt
(``failed(exc)`` / ``wrote()``), and whoever else meets an outage (a session the store cannot
record, a review it cannot open: ``failed(exc)``). It logs one line when writes start failing and
one when they succeed again, never one per attempt, and keeps what ``/healthz``, ``/readyz`` and
the metrics show: ``problems`` (short texts without addresses or paths: /healthz answers
anyone), ``failures`` (failed write attempts, ever), ``writable``, ``waiting`` (what the audit
writers keep).

The audit writer also reports its backlog: ``behind(text)`` while so many entries wait that the
gateway refuses new work, ``behind(None)`` once it caught up.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from store.errors import Unavailable

__all__ = ["StoreHealth"]

_log = logging.getLogger("airlock.store")


class _Backlog(Protocol):
    @property
    def pending(self) -> int: ...


class StoreHealth:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.failures = 0  # failed write attempts since the process started
        self.outages = 0  # times writes started failing
        self.failing: str | None = None  # why writes fail now ("disk full: ..."); None: they work
        self.reason: str | None = None  # Unavailable.reason of the failure, for clients
        self.since: float | None = None  # when they started failing (the clock's time)
        self.backlog: str | None = None  # the audit writer is behind: what waits
        self._writers: weakref.WeakSet[_Backlog] = weakref.WeakSet()

    def track(self, writer: _Backlog) -> None:
        """Count what ``writer`` (an audit writer) keeps waiting in ``waiting``."""
        self._writers.add(writer)

    @property
    def waiting(self) -> int:
        """Records the tracked writers keep, not yet written."""
        return sum(writer.pending for writer in self._writers)

    @property
    def writable(self) -> bool:
        """No write has failed since the last one that succeeded."""
        return self.failing is None

    @property
    def problems(self) -> list[str]:
        """What is wrong now, in short texts (empty when nothing is)."""
        found = []
        if self.failing is not None:
            assert self.since is not None
            found.append(
                f"the store cannot write ({self.reason}) since {self._clock() - self.since:.0f}s"
                f"; {self.waiting} records wait in memory and are retried"
            )
        if self.backlog is not None:
            found.append(self.backlog)
        return found

    def failed(self, exc: Exception) -> bool:
        """A write failed with ``exc``; True when this is the first since the store last wrote
        (then one line is logged)."""
        self.failures += 1
        if self.failing is not None:
            return False
        self.outages += 1
        self.reason = exc.reason if isinstance(exc, Unavailable) else "error"
        self.failing = f"{self.reason}: {exc}" if self.reason not in str(exc) else str(exc)
        self.since = self._clock()
        _log.error(
            "store: writes fail (%s); keeping what waits to be written and retrying "
            "(logged once; the next line says when writes work again)",
            self.failing,
        )
        return True

    def wrote(self) -> bool:
        """A write succeeded; True when writes had been failing (then one line is logged)."""
        if self.failing is None:
            return False
        assert self.since is not None
        _log.warning(
            "store: writes work again after %.1fs (%s)",
            self._clock() - self.since,
            self.failing,
        )
        self.failing = self.reason = self.since = None
        return True

    def behind(self, backlog: str | None) -> None:
        """The audit writer's backlog: what waits (None once it caught up)."""
        self.backlog = backlog
