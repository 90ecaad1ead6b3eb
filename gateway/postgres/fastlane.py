"""The fast lane, compiled: ``gateway.postgres._lane.Core`` wired to one session.

``gateway.postgres.lane`` says what the fast lane takes and what it hands to the general path;
that module is the reference. The compiled core does the same with no interpreter frame per
read: its ``client_received`` and ``server_received`` are the two channels' ``data_received``
(uvloop calls them directly), and a request it takes is checked, forwarded, its answer checked
and forwarded, in C. What Python still does, off the per-statement path:

- ``learn``: the verdict of a Query text the session has not seen in this state (``judge``, the
  guardrails' own evaluation); the core remembers it by the text's literal shape, computed in C
  on the UTF-8 bytes (exactly ``literal_shape``, held equal by a Hypothesis property).
- ``drained``: the accounting of the requests it completed, handed over in batches, column
  by column — the statement log records (each with the time it was answered), counters,
  metrics and, for a prepared statement, the unnamed portal and the statement book's batch
  count. The core drains before anything reaches the general path (so records keep the order
  statements ran in and the general path sees the state the lane left), when ``DRAIN_AT``
  records wait, at the session's end, and ``DRAIN_S`` after the first record of a batch (so a
  quiet session's statement is recorded too).
- the general path itself, for every read the core does not take, through ``Relay``. The
  core reads the general path's state (the tracker, a swallowed batch, a hold, statements
  being parsed, unframed bytes) until it finds it idle and then only after it next calls into
  Python, since nothing else changes it; what other tasks change it reads before every
  request (``ready`` in _lane.c says which is which).

A crash loses none of them: before the core forwards a request it hands the statement to the
session's journal (the host's ``journal``, the session core's ``StatementLog.forwarding``),
which records it in a file the kernel keeps; the accounting that follows in batches only
confirms it (gateway.sessions.journal). A refusal, a hold, a review or a decision is the
general path's, which writes them at once.

The core reads and calls the session only through one object, ``lanehost.LaneHost`` (built by
``lanehost.host_for``): its members and the fields of its typed views are the whole interface.

The core measures time with ``CLOCK_MONOTONIC``, which is what ``time.monotonic`` and
``time.perf_counter`` read on Linux; elsewhere (or when the extension was not built) the
Python lane runs.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING

from gateway.postgres.lane import judge
from gateway.postgres.lanehost import Columns, Learned, PortalTaken, host_for
from gateway.postgres.tracker import Portal

if TYPE_CHECKING:
    from gateway.postgres.client_side import ClientSide
    from gateway.postgres.relay import Relay
    from gateway.postgres.server_side import ServerSide

try:
    from gateway.postgres import _lane
except ImportError:  # pragma: no cover - built by `pip install`; the Python lane runs then
    _lane = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "DRAIN_S", "CompiledLane"]

_MONOTONIC = "clock_gettime(CLOCK_MONOTONIC)"
AVAILABLE = (
    _lane is not None
    and time.get_clock_info("monotonic").implementation == _MONOTONIC
    and time.get_clock_info("perf_counter").implementation == _MONOTONIC
)
DRAIN_S = 0.05  # a batch's first record waits at most this long for the rest


class CompiledLane:
    """The Python lane's interface (``inflight``, ``spill``, ``taken``, ``spilled``) over the
    compiled core, plus the two read callbacks the relay gives its channels."""

    def __init__(
        self,
        relay: Relay,
        client: ClientSide,
        server: ServerSide,
        transports: tuple[asyncio.Transport, asyncio.Transport],
    ) -> None:
        to_client, to_server = transports
        self.relay, self.client, self.server, self.s = relay, client, server, client.s
        self._timer: asyncio.TimerHandle | None = None
        # kept: asyncio.get_running_loop() makes a getpid() system call every time
        self._loop = asyncio.get_running_loop()
        host = host_for(
            relay,
            client,
            server,
            to_server=to_server.write,
            to_client=to_client.write,
            learn=self._learn,
            drained=self._drained,
            schedule=self._schedule,
        )
        self.core = _lane.Core(host)
        self.client_received = self.core.client_received
        self.server_received = self.core.server_received

    @property
    def inflight(self) -> int:
        return self.core.inflight

    @property
    def taken(self) -> int:
        return self.core.taken

    @property
    def spilled(self) -> int:
        return self.core.spilled

    def spill(self) -> None:
        """Drain, then hand the request in flight (if any) to the general path."""
        self.core.spill()

    def _learn(self, text: str) -> Learned:
        return judge(self.client, text)

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = self._loop.call_later(DRAIN_S, self._drain)

    def _drain(self) -> None:
        self._timer = None
        try:
            self.core.drain()
        except Exception as exc:  # as a failing Lane.finish would: this session ends
            self.relay.stop("server", exc)

    def _drained(
        self, columns: Columns, answered: int, portal: PortalTaken | None, synced: int
    ) -> None:
        """The accounting of Lane.finish for the requests the lane completed, in order, column
        by column (at, text, verdict, rule, rows, size, duration_us: one entry per request),
        with the answers' bytes summed."""
        s = self.s
        if synced:
            s.book.synced(synced)
        if portal is not None:
            definition, plan, described = portal
            s.portals[""] = Portal(definition, (), plan, described)
        ats, texts, verdicts, rules, rows, sizes, durations_us = columns
        if not ats:
            return
        log = s.log
        assert log is not None
        log.record_lane(ats, texts, verdicts, rules, rows, sizes, durations_us)
        s.statements_seen += len(ats)
        s.bytes_out += answered
        s.rows += sum(rows)
        if verdicts.count(verdicts[0]) == len(verdicts):  # most batches: one verdict
            self.server.count(verdicts[0], len(verdicts))
            return
        for verdict, n in Counter(verdicts).items():
            self.server.count(verdict, n)
