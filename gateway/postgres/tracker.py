"""Which server response answers which client message: the FIFO a proxy keeps per session.

PostgreSQL answers in order (docs "Message Flow", 55.2): every Parse, Bind, Describe, Execute,
Close, Sync and Query the gateway forwards pushes an expectation; server messages pop them. The
session uses the head to know which result a RowDescription or DataRow belongs to (masking plans
per statement and portal, honouring Bind's result formats) and when a statement has finished (its
audit event). Rules:

- ParseComplete / BindComplete / CloseComplete / NoData pop their request.
- RowDescription answers a Describe (statement or portal) or starts a result of a Query.
- CommandComplete, EmptyQueryResponse and PortalSuspended finish an Execute; inside a Query they
  finish one of its statements.
- ErrorResponse finishes the head; in the extended protocol the server then skips to Sync, so
  every expectation before the next Sync is dropped unanswered.
- ReadyForQuery pops through the Sync or Query it answers.

Pure state, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from time import perf_counter

from gateway import pgwire as pg
from gateway.masking import MaskTally

__all__ = ["Expect", "Pending", "ResponseTracker"]


class Expect(Enum):
    PARSE = "parse"
    BIND = "bind"
    DESCRIBE_STATEMENT = "describe_statement"
    DESCRIBE_PORTAL = "describe_portal"
    EXECUTE = "execute"
    CLOSE = "close"
    SYNC = "sync"
    QUERY = "query"


@dataclass(slots=True)
class Pending:
    """One forwarded request awaiting its answer; statements carry what their audit event needs."""

    expect: Expect
    name: str = ""
    text: str | None = None
    verdict: str = "allow"
    rule: str | None = None
    review_id: str | None = None
    started: float = field(default_factory=perf_counter)
    rows: int = 0
    tags: list[str] = field(default_factory=list)
    error: str | None = None
    tally: MaskTally | None = None
    # A refusal in flight: the server's answer to the gateway's marker is replaced by this.
    refusal: pg.ErrorResponse | None = None
    internal: bool = False  # a Describe the gateway sent itself: its answer is not forwarded

    @property
    def is_statement(self) -> bool:
        return self.expect in (Expect.QUERY, Expect.EXECUTE)


class ResponseTracker:
    """The FIFO of forwarded requests; finished statements are handed out for auditing."""

    def __init__(self) -> None:
        self.queue: deque[Pending] = deque()
        self.finished: list[Pending] = []

    def push(self, pending: Pending) -> None:
        self.queue.append(pending)

    @property
    def head(self) -> Pending | None:
        return self.queue[0] if self.queue else None

    def _pop(self) -> Pending | None:
        if not self.queue:
            return None
        item = self.queue.popleft()
        if item.is_statement:
            self.finished.append(item)
        return item

    def simple_reply(self) -> Pending | None:
        """ParseComplete, BindComplete, CloseComplete, NoData: pop the request they answer."""
        return self._pop()

    def command_complete(self, tag: str) -> None:
        head = self.head
        if head is None:
            return
        head.tags.append(tag)
        head.rows += _rows(tag)
        if head.expect is not Expect.QUERY:
            self._pop()

    def portal_suspended(self) -> None:
        if self.head is not None and self.head.expect is not Expect.QUERY:
            self._pop()

    def error(self, sqlstate: str | None) -> None:
        head = self.head
        if head is None:
            return
        head.error = sqlstate or "error"
        if head.expect is Expect.QUERY:
            return
        self._pop()
        while self.queue and self.queue[0].expect not in (Expect.SYNC, Expect.QUERY):
            skipped = self.queue.popleft()
            if skipped.is_statement:
                skipped.error = "skipped"
                self.finished.append(skipped)

    def ready(self) -> None:
        """ReadyForQuery: pop through the Sync or Query it answers."""
        while self.queue:
            item = self._pop()
            if item is not None and item.expect in (Expect.SYNC, Expect.QUERY):
                return

    def take_finished(self) -> list[Pending]:
        done, self.finished = self.finished, []
        return done


def _rows(tag: str) -> int:
    # CommandComplete tags: "SELECT 5", "INSERT 0 5", "UPDATE 3", "COPY 10" (docs 55.7).
    last = tag.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0
