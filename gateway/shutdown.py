"""One deadline for a stopping gateway process (``[gateway] shutdown_timeout``), shared out
among its parts, and what they could not do by it (docs/operations.md, "Shutdown has a
deadline").

The runtime begins it at SIGTERM/SIGINT (:func:`gateway.runtime.serve`); the listeners, the
audit writer, the statement journal and the store read their share from it; the command line
arms its watchdog and exits with :meth:`Shutdown.exit_code`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time

__all__ = ["EXIT_UNRECORDED", "Shutdown"]

log = logging.getLogger("airlock")

# The exit status of a shutdown that could not write everything before its deadline
# (sysexits.h EX_TEMPFAIL: try again). What ran is in the statement journal for the next start.
EXIT_UNRECORDED = 75


class Shutdown:
    """One deadline for a clean stop, from the signal to the process's exit (``timeout``
    seconds, ``[gateway] shutdown_timeout``), shared out among the parts that stop:

    - ``sessions()``: until half of what comes before ``reserve``: the listeners stop accepting,
      end their sessions in their protocol's words, and those record their end and cancel their
      held reviews;
    - ``services()``: until ``reserve`` seconds before the deadline: the audit writer drains, the
      statement journal is replayed, the chat bot, the scheduler and the HTTP API stop;
    - ``straggling()``: a third of ``reserve`` later, what has not stopped is cancelled;
    - ``left()``: the rest, to close the store; at the deadline itself a process that armed the
      watchdog (``hard_exit``, the command line) exits with :data:`EXIT_UNRECORDED` wherever it
      is.

    Each returns the seconds left (never below 0), or None before the shutdown began (no
    limit: the parts stop as they always did). A part that could not do its work in time says
    so with ``problem``; the command exits with ``exit_code()``.
    """

    def __init__(self, timeout: float, *, hard_exit: bool = False) -> None:
        self.timeout = timeout
        self.reserve = min(2.0, timeout * 0.15)
        self.hard_exit = hard_exit
        self.started: float | None = None  # time.monotonic() of the signal
        self.problems: list[str] = []
        self._bounds: list[asyncio.Timeout] = []
        self._watchdog: threading.Timer | None = None

    def begin(self) -> None:
        """The shutdown starts now (idempotent): the deadline runs from here."""
        if self.started is not None:
            return
        self.started = time.monotonic()
        if self.hard_exit:
            self._watchdog = threading.Timer(self.timeout, self._expired)
            self._watchdog.daemon = True
            self._watchdog.start()
        loop = asyncio.get_running_loop()
        for bound in self._bounds:
            bound.reschedule(loop.time() + self.timeout - self.reserve / 3)

    def disarm(self) -> None:
        """The process is not going to exit after all (a start-up error in a test's process):
        no watchdog."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def bound(self, limit: asyncio.Timeout) -> None:
        """Reschedule ``limit`` (an ``asyncio.timeout(None)``) to expire ``reserve / 3`` seconds
        before the deadline once the shutdown begins (after ``straggling()``): whatever its
        block still awaits then is cancelled, and the store gets the rest to close."""
        self._bounds.append(limit)
        if self.started is not None:
            left = self.timeout - self.reserve / 3 - self.elapsed()
            limit.reschedule(asyncio.get_running_loop().time() + left)

    @property
    def begun(self) -> bool:
        return self.started is not None

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def left(self, reserve: float = 0.0) -> float | None:
        """Seconds until ``reserve`` seconds before the deadline (None: not begun)."""
        if self.started is None:
            return None
        return max(0.0, self.timeout - reserve - self.elapsed())

    def sessions(self) -> float | None:
        if self.started is None:
            return None
        return max(0.0, (self.timeout - self.reserve) / 2 - self.elapsed())

    def services(self) -> float | None:
        return self.left(self.reserve)

    def straggling(self) -> float | None:
        """When the parts that have not stopped by ``services()`` are cancelled."""
        return self.left(self.reserve * 2 / 3)

    def problem(self, text: str) -> None:
        """Something that was to be written before the exit was not: the exit is not 0."""
        self.problems.append(text)
        log.error("shutdown: %s", text)

    def exit_code(self) -> int:
        return EXIT_UNRECORDED if self.problems else 0

    def _expired(self) -> None:
        """The watchdog: the deadline passed and the process is still here."""
        with contextlib.suppress(Exception):
            sys.stderr.write(
                f"airlock: the shutdown deadline ({self.timeout:g}s) passed; exiting now "
                f"(exit {EXIT_UNRECORDED}); what ran is in the statement journal for the next "
                "start\n"
            )
            sys.stderr.flush()
            sys.stdout.flush()
        os._exit(EXIT_UNRECORDED)
