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
  every expectation before the next Sync (a simple Query too) is dropped unanswered.
- ReadyForQuery pops through the Sync or Query it answers; statements still before it were
  skipped by the server.

Pure state, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from time import perf_counter

from gateway.masking import MaskTally
from gateway.postgres import wire as pg
from gateway.postgres.dialect import Derivation, RowPlan

__all__ = ["Definition", "Expect", "Pending", "Portal", "ResponseTracker", "rows_in"]


class Expect(Enum):
    PARSE = "parse"
    BIND = "bind"
    DESCRIBE_STATEMENT = "describe_statement"
    DESCRIBE_PORTAL = "describe_portal"
    EXECUTE = "execute"
    CLOSE = "close"
    SYNC = "sync"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class Definition:
    """A prepared statement's text and its verdict (allow | hold | count: allowed once its
    rows are counted within max_rows_unreviewed), taken at Parse; ``effects``
    when running it may change the session state later statements are classified in."""

    text: str
    verdict: str
    rule: str | None
    effects: bool = False
    derived: Derivation | None = None  # outputs computed from masked columns (masking)
    param_types: tuple[int, ...] = ()  # the Parse's parameter type OIDs (a count re-binds)


@dataclass(slots=True)
class Portal:
    """A bound portal: the statement definition captured at Bind (a later Parse of the same
    statement name cannot change what this portal runs), its values, and its masking plan."""

    statement: Definition
    params: tuple[bytes | None, ...]
    plan: RowPlan | None = None
    described: bool = False  # the client asked for its RowDescription itself
    formats: tuple[int, ...] = ()  # the Bind's parameter format codes (a count re-binds)


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
    bytes: int = 0  # result bytes sent to the client (DataRows, COPY data)
    tags: list[str] = field(default_factory=list)
    error: str | None = None
    tally: MaskTally | None = None
    # A refusal in flight: the server's answer to the gateway's marker is replaced by this.
    refusal: pg.ErrorResponse | None = None
    internal: bool = False  # a Describe the gateway sent itself: its answer is not forwarded
    # Describe('P') and Execute: the portal whose plan the answer sets or uses (not its name:
    # a pipelined Bind may already have replaced the name's portal).
    portal: Portal | None = None
    # Parse: the definition it makes; Close('S'): closes a statement. batch = Syncs sent before.
    definition: Definition | None = None
    closes: bool = False
    batch: int = 0
    derived: Derivation | None = None  # a Query's outputs computed from masked columns
    # Called once the statement finished (answered, failed or skipped): session-state effects.
    after: Callable[[Pending], None] | None = None

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
        head.rows += rows_in(tag)
        if head.expect is not Expect.QUERY:
            self._pop()

    def portal_suspended(self) -> None:
        if self.head is not None and self.head.expect is not Expect.QUERY:
            self._pop()

    def error(self, sqlstate: str | None) -> list[Pending]:
        """ErrorResponse; returns the requests the server will now skip, unanswered."""
        head = self.head
        if head is None:
            return []
        head.error = sqlstate or "error"
        if head.expect is Expect.QUERY:
            return []
        self._pop()
        # The server now ignores everything, simple Query included, until Sync (55.2.3).
        skipped = []
        while self.queue and self.queue[0].expect is not Expect.SYNC:
            skipped.append(self._skip(self.queue.popleft()))
        return skipped

    def ready(self) -> list[Pending]:
        """ReadyForQuery: pop through the Sync or Query it answers; returns the requests before
        it that got no answer: the server skipped them (sent after an error it had not seen)."""
        skipped: list[Pending] = []
        queue = self.queue
        while queue:
            item = queue.popleft()
            if item.expect is Expect.SYNC:
                break
            if item.expect is Expect.QUERY:
                self.finished.append(item)
                break
            skipped.append(self._skip(item))
        return skipped

    def _skip(self, item: Pending) -> Pending:
        if item.is_statement:
            item.error = item.error or "skipped"
            self.finished.append(item)
        return item

    def take_finished(self) -> list[Pending]:
        done, self.finished = self.finished, []
        return done


def rows_in(tag: str) -> int:
    """The row count a CommandComplete tag reports (0 when it reports none)."""
    # CommandComplete tags: "SELECT 5", "INSERT 0 5", "UPDATE 3", "COPY 10" (docs 55.7).
    last = tag.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0
