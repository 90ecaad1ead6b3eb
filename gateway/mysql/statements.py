"""Prepared statements (MySQL "Client/Server Protocol", "Prepared Statements") on one session:
classified at COM_STMT_PREPARE, decided at COM_STMT_EXECUTE with the values bound.

- PREPARE: the text is classified (a blocked one is refused there and never reaches the
  server); the server's statement id is mapped to the gateway's own (``Book``): the client
  only ever names ids the gateway handed out, and one it did not is refused (1243).
- EXECUTE: a statement allowed at prepare runs; a held one is judged again with its values
  bound (``evaluate_bound``: a bound row filter may make it allowed) and, still held, held
  with its text and its parameters in their text form: the approval binds to both (the
  review's ``statement_sha256``). Values sent by COM_STMT_SEND_LONG_DATA are gathered (and
  forwarded) and bound too. MariaDB's COM_STMT_BULK_EXECUTE is refused (1235).
- Server-side cursors ("COM_STMT_EXECUTE", "COM_STMT_FETCH"): an EXECUTE with
  CURSOR_TYPE_READ_ONLY is judged, held and recorded as one without; its reply is the column
  definitions and a terminator with SERVER_STATUS_CURSOR_EXISTS. The cursor keeps that result
  set's masking plan (``Cursor``): each COM_STMT_FETCH's binary rows are masked by it, and each
  fetch is journaled and recorded (the statement's text, verdict and review; its rows and
  tally). The cursor ends with SERVER_STATUS_LAST_ROW_SENT, an ERR, another EXECUTE, RESET
  or CLOSE; a FETCH on a statement without one is answered by the gateway (1421, as the
  server would), so that no row the gateway holds no plan for reaches the client. The other
  cursor types (FOR_UPDATE, SCROLLABLE: MySQL has neither) are refused (1235).
- An executed statement that changes the session state classification reads (``SET sql_mode
  = ?``, held by default) has its value bound, not in the text: the state is read back from
  the server after it ran.
- CLOSE, SEND_LONG_DATA (no answer), RESET (OK / ERR) are relayed with the ids rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.guardrails import Action, Verdict
from gateway.masking import MaskTally
from gateway.mysql import refusals
from gateway.mysql import wire as my
from gateway.mysql.context import EFFECT_KINDS
from gateway.mysql.wire import prepared as ps

if TYPE_CHECKING:
    from gateway.mysql.masking import ReplyMasker
    from gateway.mysql.relay import Relay

__all__ = ["Book", "Cursor", "Execution", "Prepared", "Statements"]

LONG_DATA_LIMIT = 16 * 1024 * 1024  # gathered per statement, for the approval's binding
CURSOR_TYPES = 0x07  # ExecuteFlag READ_ONLY | FOR_UPDATE | SCROLLABLE


@dataclass(frozen=True)
class Cursor:
    """An open server-side cursor: the verdict its statement ran with (and the review that let
    it), and its result set's masker (None on a connection that does not mask)."""

    verdict: Verdict
    review_id: str | None
    masker: ReplyMasker | None


@dataclass
class Prepared:
    text: str
    verdict: Verdict
    upstream_id: int
    params: int
    derived: frozenset[int] | None = None  # outputs computed from a masked column
    types: tuple[tuple[int, int], ...] | None = None  # bound by an earlier execute
    long_data: dict[int, bytearray] = field(default_factory=dict)
    cursor: Cursor | None = None


@dataclass(frozen=True)
class Execution:
    """A COM_STMT_EXECUTE bound to its statement (``Statements.bind``)."""

    statement: Prepared
    upstream: bytes  # the command with the server's statement id
    cursor: bool  # CURSOR_TYPE_READ_ONLY
    message: ps.StmtExecute
    gathered: dict[int, bytes]  # what COM_STMT_SEND_LONG_DATA sent, by parameter


@dataclass
class Book:
    """The session's prepared statements by the id the gateway gave the client."""

    by_id: dict[int, Prepared] = field(default_factory=dict)
    last: int | None = None
    _next: int = 1

    def add(self, statement: Prepared) -> int:
        statement_id, self._next = self._next, self._next + 1
        self.by_id[statement_id] = statement
        self.last = statement_id
        return statement_id

    def get(self, statement_id: int) -> Prepared | None:
        if statement_id == ps.LAST_STATEMENT_ID and self.last is not None:
            statement_id = self.last
        return self.by_id.get(statement_id)


def unknown(statement_id: int, command: str) -> my.Err:
    return my.Err(
        1243, "HY000", f"Unknown prepared statement handler ({statement_id}) given to {command}"
    )


class Statements:
    """The prepared-statement commands of one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.book = Book()

    async def prepare(self, payload: bytes) -> None:
        relay, s = self.relay, self.relay.s
        try:
            text = payload[1:].decode("utf-8")
        except UnicodeDecodeError:
            shown = payload[1:].decode("utf-8", "replace")
            relay.refuse(shown, "block", refusals.not_utf8(), rule=refusals.UTF8)
            return
        if relay.leak(text):  # on a masking connection: refused at prepare
            return
        verdict = s.target.guardrails.evaluate(text, s.state)
        if verdict.action is Action.BLOCK:
            relay.refuse(text, "block", refusals.blocked(verdict), rule=verdict.rule)
            return
        lineage = relay.lineage
        derived = lineage.derived(text, s.state) if lineage is not None else None

        def rewrite(event: my.Input, data: bytes) -> bytes:
            if event in (my.Input.PREPARE_OK, my.Input.PREPARE_OK_DEFS):
                ok = ps.decode_prepare_ok(data)
                statement = Prepared(text, verdict, ok.statement_id, ok.num_params, derived)
                return ps.rewrite_statement_id(data, self.book.add(statement))
            return data

        await relay.forward(payload, my.Expect.PREPARE, rewrite=rewrite)

    def bind(self, payload: bytes) -> Execution | my.Err:
        """A COM_STMT_EXECUTE decoded against its statement: what runs upstream, or the ERR
        the gateway answers (an id it did not hand out, an unsupported cursor type); raises
        MalformedPacket as the codec does. What the statement remembers (the parameters'
        types, its gathered long data, its cursor) is updated as the server updates it."""
        statement_id = ps.peek_statement_id(payload)
        statement = self.book.get(statement_id)
        if statement is None:
            return unknown(statement_id, "EXECUTE")
        message = ps.decode_execute(
            payload,
            num_params=statement.params,
            previous_types=statement.types,
            long_data=frozenset(statement.long_data),
        )
        cursor = message.flags & CURSOR_TYPES
        if cursor not in (0, ps.ExecuteFlag.READ_ONLY):
            return refusals.unsupported("a cursor other than CURSOR_TYPE_READ_ONLY")
        statement.cursor = None  # the server closes an open one at the next execute
        if message.params:
            statement.types = tuple((p.type_code, p.flag) for p in message.params)
        gathered = {i: bytes(v) for i, v in statement.long_data.items()}
        statement.long_data.clear()
        upstream = ps.rewrite_statement_id(payload, statement.upstream_id)
        return Execution(statement, upstream, bool(cursor), message, gathered)

    async def execute(self, payload: bytes) -> None:
        relay = self.relay
        bound = self.bind(payload)
        if isinstance(bound, my.Err):
            statement = self.book.get(ps.peek_statement_id(payload))
            shown = (
                statement.text
                if statement is not None
                else f"<execute {ps.peek_statement_id(payload)}>"
            )
            relay.refuse(shown, "block", bound)
            return
        statement = bound.statement
        verdict = statement.verdict
        params: tuple[bytes | None, ...] = ()
        if verdict.action is not Action.ALLOW:
            params = bound.message.param_texts(bound.gathered)
            s = relay.s
            non_null = frozenset(i for i, v in enumerate(params, 1) if v is not None)
            verdict = s.target.guardrails.evaluate_bound(statement.text, s.state, non_null)
        ran = await relay.statement(
            statement.text, bound.upstream, verdict, params=params, binary=True,
            derived=statement.derived,
            expect=my.Expect.CURSOR if bound.cursor else my.Expect.RESULTS,
        )  # fmt: skip
        outcome = relay.last
        if ran is not None and outcome is not None and outcome.end is my.Input.CURSOR_OPEN:
            statement.cursor = Cursor(ran, outcome.review_id, outcome.masker)
        if statement.verdict.kinds & EFFECT_KINDS:  # SET sql_mode = ?: its value is not text
            await relay.resync()

    async def fetch(self, payload: bytes) -> None:
        """COM_STMT_FETCH: the next rows of the statement's cursor, masked by its plan."""
        relay, s = self.relay, self.relay.s
        message = ps.decode_fetch(payload)
        statement = self.book.get(message.statement_id)
        if statement is None:
            relay.refuse(
                f"<fetch {message.statement_id}>", "block", unknown(message.statement_id, "FETCH")
            )
            return
        cursor = statement.cursor
        if cursor is None:
            error = my.Err(
                1421, "HY000", f"The statement ({message.statement_id}) has no open cursor"
            )
            relay.refuse(statement.text, "block", error)
            return
        if self.relay.deps.core.audit.behind:
            relay.refuse(statement.text, "block", refusals.audit_behind(), rule=refusals.BACKLOG)
            return
        assert s.log is not None
        if not s.log.forwarding(statement.text):
            problem = s.log.journal.problem if s.log.journal is not None else None
            relay.refuse(
                statement.text, "block", refusals.unjournaled(problem), rule=refusals.JOURNAL
            )
            return
        if cursor.masker is not None:
            cursor.masker.tally = MaskTally()  # this fetch's own tally
        upstream = ps.rewrite_statement_id(payload, statement.upstream_id)
        outcome = await relay.forward(
            upstream, my.Expect.FETCH, statement.text, binary=True, masker=cursor.masker
        )
        outcome.review_id = cursor.review_id
        if outcome.end is not my.Input.END:  # LAST_ROW_SENT or ERR: the cursor is closed
            statement.cursor = None
        relay.record(statement.text, cursor.verdict, outcome)

    async def send_long_data(self, payload: bytes) -> None:
        message = ps.decode_send_long_data(payload)
        statement = self.book.get(message.statement_id)
        if statement is None:
            return  # no answer to give; nothing forwarded
        gathered = statement.long_data.setdefault(message.param_id, bytearray())
        if sum(len(v) for v in statement.long_data.values()) + len(message.data) > LONG_DATA_LIMIT:
            raise my.PacketTooLarge("more long data than the gateway binds an approval to")
        gathered += message.data
        self.relay.send_only(ps.rewrite_statement_id(payload, statement.upstream_id))

    async def close(self, payload: bytes) -> None:
        statement_id = ps.decode_close(payload).statement_id
        statement = self.book.by_id.pop(statement_id, None)
        if statement is not None:
            self.relay.send_only(ps.rewrite_statement_id(payload, statement.upstream_id))

    async def reset(self, payload: bytes) -> None:
        statement_id = ps.decode_reset(payload).statement_id
        statement = self.book.get(statement_id)
        if statement is None:
            self.relay.refuse(f"<reset {statement_id}>", "block", unknown(statement_id, "RESET"))
            return
        statement.long_data.clear()
        statement.cursor = None  # RESET closes the cursor
        upstream = ps.rewrite_statement_id(payload, statement.upstream_id)
        await self.relay.forward(upstream, my.Expect.SIMPLE)

    def forget(self) -> None:
        """COM_RESET_CONNECTION: the server dropped every prepared statement."""
        self.book = Book()
