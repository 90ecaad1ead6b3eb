"""Where the server's reply to one command stands: an Enum and one transition table.

Rules ("Text Protocol", "COM_QUERY Response"; "Utility Commands"; "COM_FIELD_LIST"):

- A command moves IDLE to the reply it expects (``begin``): FIRST for COM_QUERY and
  COM_STMT_EXECUTE (a result set, an OK, an ERR or a LOCAL INFILE request), SIMPLE for commands
  answered by one OK / ERR / EOF, FIELD_LIST for column definitions up to an EOF, STATISTICS
  for one string, PREPARE_FIRST for COM_STMT_PREPARE.
- COM_STMT_PREPARE_OK ("COM_STMT_PREPARE Response") is followed by its parameters' definitions
  and then its columns' (each block that is not empty, each with an EOF unless
  CLIENT_DEPRECATE_EOF): DEFINITIONS, DEFINITIONS_EOF.
- A result set is its column count, that many column definitions, an EOF unless
  CLIENT_DEPRECATE_EOF, the rows, and a terminator (EOF, or an OK with header 0xFE). An OK or a
  terminator whose status says SERVER_MORE_RESULTS_EXISTS starts the next result (FIRST again).
- COM_STMT_EXECUTE with a cursor type (``Expect.CURSOR``; "COM_STMT_EXECUTE Response",
  "COM_STMT_FETCH"): an OK, an ERR, or a result set's column count and definitions followed by
  an EOF (under CLIENT_DEPRECATE_EOF an OK with header 0xFE) whose status says
  SERVER_STATUS_CURSOR_EXISTS: the cursor is open and no rows follow (CURSOR_OPEN). Where the
  server opened no cursor that terminator lacks the flag and the rows follow as in any result.
- COM_STMT_FETCH (``Expect.FETCH``): binary rows and a terminator (EOF, or OK with header 0xFE);
  LAST_ROW when its status says SERVER_STATUS_LAST_ROW_SENT (the server closed the cursor),
  END when more rows are left; or an ERR (no open cursor).
- An ERR ends any reply. A LOCAL INFILE request (0xFB) has no entry: the gateway cleared
  CLIENT_LOCAL_FILES towards the server, which must not send one.
- Anything else has no entry and raises UnexpectedPacket: the session ends, never the listener.

:class:`ReplyTracker` classifies each packet of the reply (``feed``) and moves the state.
"""

from __future__ import annotations

from enum import Enum, auto

from gateway.mysql.wire.basic import Reader
from gateway.mysql.wire.constants import Capability, Status
from gateway.mysql.wire.errors import MalformedPacket, UnexpectedPacket
from gateway.mysql.wire.messages import is_eof, is_terminator

__all__ = ["Expect", "Input", "Reply", "ReplyTracker", "transition"]


class Reply(Enum):
    IDLE = auto()
    FIRST = auto()  # the first packet of a (next) result
    COLUMNS = auto()  # column definitions still to come
    COLUMNS_EOF = auto()  # the EOF after the column definitions
    ROWS = auto()
    SIMPLE = auto()  # one OK, ERR or EOF
    FIELD_LIST = auto()  # column definitions up to an EOF
    STATISTICS = auto()  # one string packet
    PREPARE_FIRST = auto()  # COM_STMT_PREPARE_OK or ERR
    DEFINITIONS = auto()  # a prepared statement's parameter or column definitions
    DEFINITIONS_EOF = auto()  # the EOF after a block of them
    CURSOR_FIRST = auto()  # the first packet of the reply to an EXECUTE with a cursor
    CURSOR_COLUMNS = auto()  # ... its column definitions still to come
    CURSOR_EOF = auto()  # ... the EOF after them (the cursor is open, or rows follow)
    CURSOR_OPENING = auto()  # ... under DEPRECATE_EOF: the cursor's OK, or rows follow
    FETCH_ROWS = auto()  # the rows of a COM_STMT_FETCH


class Expect(Enum):
    """What a command's reply is: the input that begins it."""

    RESULTS = auto()
    SIMPLE = auto()
    FIELD_LIST = auto()
    STATISTICS = auto()
    PREPARE = auto()
    CURSOR = auto()  # COM_STMT_EXECUTE with a cursor type
    FETCH = auto()  # COM_STMT_FETCH


class Input(Enum):
    RESULTS = auto()
    SIMPLE = auto()
    FIELD_LIST = auto()
    STATISTICS = auto()
    OK = auto()
    OK_MORE = auto()  # an OK whose status says more results follow
    ERR = auto()
    LOCAL_INFILE = auto()
    COLUMN_COUNT = auto()
    COLUMN = auto()
    LAST_COLUMN = auto()  # the last column definition, an EOF follows
    LAST_COLUMN_NO_EOF = auto()  # the last column definition under DEPRECATE_EOF
    EOF = auto()
    ROW = auto()
    END = auto()  # the rows' terminator
    END_MORE = auto()  # ... and more results follow
    RAW = auto()
    PREPARE = auto()
    PREPARE_OK = auto()  # nothing follows
    PREPARE_OK_DEFS = auto()  # definitions follow
    DEFINITION = auto()  # more of its block follow
    LAST_DEFINITION = auto()  # the last of the last block, no EOF follows
    BLOCK_END = auto()  # the last of a block, an EOF follows
    EOF_NEXT = auto()  # the EOF after a block, another block follows
    CURSOR = auto()
    FETCH = auto()
    CURSOR_OPEN = auto()  # a terminator with SERVER_STATUS_CURSOR_EXISTS: no rows follow
    LAST_ROW = auto()  # a fetch's terminator with SERVER_STATUS_LAST_ROW_SENT


R, In = Reply, Input
TABLE: dict[tuple[Reply, Input], Reply] = {
    (R.IDLE, In.RESULTS): R.FIRST,
    (R.IDLE, In.SIMPLE): R.SIMPLE,
    (R.IDLE, In.FIELD_LIST): R.FIELD_LIST,
    (R.IDLE, In.STATISTICS): R.STATISTICS,
    (R.FIRST, In.OK): R.IDLE,
    (R.FIRST, In.OK_MORE): R.FIRST,
    (R.FIRST, In.ERR): R.IDLE,
    (R.FIRST, In.COLUMN_COUNT): R.COLUMNS,
    (R.COLUMNS, In.COLUMN): R.COLUMNS,
    (R.COLUMNS, In.LAST_COLUMN): R.COLUMNS_EOF,
    (R.COLUMNS, In.LAST_COLUMN_NO_EOF): R.ROWS,
    (R.COLUMNS, In.ERR): R.IDLE,
    (R.COLUMNS_EOF, In.EOF): R.ROWS,
    (R.COLUMNS_EOF, In.ERR): R.IDLE,
    (R.ROWS, In.ROW): R.ROWS,
    (R.ROWS, In.END): R.IDLE,
    (R.ROWS, In.END_MORE): R.FIRST,
    (R.ROWS, In.ERR): R.IDLE,
    (R.SIMPLE, In.OK): R.IDLE,
    (R.SIMPLE, In.EOF): R.IDLE,
    (R.SIMPLE, In.ERR): R.IDLE,
    (R.FIELD_LIST, In.COLUMN): R.FIELD_LIST,
    (R.FIELD_LIST, In.END): R.IDLE,
    (R.FIELD_LIST, In.ERR): R.IDLE,
    (R.STATISTICS, In.RAW): R.IDLE,
    (R.IDLE, In.PREPARE): R.PREPARE_FIRST,
    (R.PREPARE_FIRST, In.PREPARE_OK): R.IDLE,
    (R.PREPARE_FIRST, In.PREPARE_OK_DEFS): R.DEFINITIONS,
    (R.PREPARE_FIRST, In.ERR): R.IDLE,
    (R.DEFINITIONS, In.DEFINITION): R.DEFINITIONS,
    (R.DEFINITIONS, In.LAST_DEFINITION): R.IDLE,
    (R.DEFINITIONS, In.BLOCK_END): R.DEFINITIONS_EOF,
    (R.DEFINITIONS_EOF, In.EOF): R.IDLE,
    (R.DEFINITIONS_EOF, In.EOF_NEXT): R.DEFINITIONS,
    (R.IDLE, In.CURSOR): R.CURSOR_FIRST,
    (R.CURSOR_FIRST, In.OK): R.IDLE,
    (R.CURSOR_FIRST, In.OK_MORE): R.FIRST,
    (R.CURSOR_FIRST, In.ERR): R.IDLE,
    (R.CURSOR_FIRST, In.COLUMN_COUNT): R.CURSOR_COLUMNS,
    (R.CURSOR_COLUMNS, In.COLUMN): R.CURSOR_COLUMNS,
    (R.CURSOR_COLUMNS, In.LAST_COLUMN): R.CURSOR_EOF,
    (R.CURSOR_COLUMNS, In.LAST_COLUMN_NO_EOF): R.CURSOR_OPENING,
    (R.CURSOR_COLUMNS, In.ERR): R.IDLE,
    (R.CURSOR_EOF, In.CURSOR_OPEN): R.IDLE,
    (R.CURSOR_EOF, In.EOF): R.ROWS,
    (R.CURSOR_EOF, In.ERR): R.IDLE,
    (R.CURSOR_OPENING, In.CURSOR_OPEN): R.IDLE,
    (R.CURSOR_OPENING, In.ROW): R.ROWS,
    (R.CURSOR_OPENING, In.END): R.IDLE,
    (R.CURSOR_OPENING, In.END_MORE): R.FIRST,
    (R.CURSOR_OPENING, In.ERR): R.IDLE,
    (R.IDLE, In.FETCH): R.FETCH_ROWS,
    (R.FETCH_ROWS, In.ROW): R.FETCH_ROWS,
    (R.FETCH_ROWS, In.END): R.IDLE,
    (R.FETCH_ROWS, In.LAST_ROW): R.IDLE,
    (R.FETCH_ROWS, In.ERR): R.IDLE,
}


# The same table keyed by plain ints: an Enum's hash is a Python-level call (hot path).
_BY_INT = {s._value_ << 6 | e._value_: after for (s, e), after in TABLE.items()}


def transition(state: Reply, event: Input) -> Reply:
    """The state after ``event``; UnexpectedPacket when the table has no entry."""
    after = _BY_INT.get(state._value_ << 6 | event._value_)
    if after is None:
        raise UnexpectedPacket(f"{event.name.lower()} while the reply is at {state.name}")
    return after


_BEGIN = {
    Expect.RESULTS: Input.RESULTS,
    Expect.SIMPLE: Input.SIMPLE,
    Expect.FIELD_LIST: Input.FIELD_LIST,
    Expect.STATISTICS: Input.STATISTICS,
    Expect.PREPARE: Input.PREPARE,
    Expect.CURSOR: Input.CURSOR,
    Expect.FETCH: Input.FETCH,
}


_MORE = int(Status.MORE_RESULTS_EXISTS)  # a plain int: IntFlag operators are Python calls
_CURSOR_EXISTS = int(Status.CURSOR_EXISTS)
_LAST_ROW_SENT = int(Status.LAST_ROW_SENT)


def _status_of_ok(payload: bytes) -> int:
    r = Reader(payload, 1)
    r.lenenc_int()
    r.lenenc_int()
    return r.uint(2)


class ReplyTracker:
    """One connection's reply state; ``caps`` are the capabilities agreed with the server."""

    def __init__(self, caps: int) -> None:
        self.caps = caps
        self._deprecate_eof = bool(caps & Capability.DEPRECATE_EOF)
        self.state = Reply.IDLE
        self.columns = 0  # of the current result set (of a prepared statement: its columns)
        self.params = 0  # of a prepared statement
        self._left = 0  # column definitions still to come
        self._blocks: list[int] = []  # a prepared statement's definition blocks still to come

    @property
    def idle(self) -> bool:
        return self.state is Reply.IDLE

    def begin(self, expect: Expect) -> None:
        self.state = transition(self.state, _BEGIN[expect])

    def feed(self, payload: bytes) -> Input:
        """Classify the next packet of the reply and move on; UnexpectedPacket or
        MalformedPacket when it does not fit."""
        event = self._classify(payload)
        self.state = transition(self.state, event)
        return event

    def _classify(self, payload: bytes) -> Input:
        if not payload:
            raise MalformedPacket("an empty packet in a reply")
        head, state = payload[0], self.state
        if head == 0xFF and state is not Reply.STATISTICS:
            return Input.ERR
        if state is Reply.FIRST:
            return self._first(payload, head)
        if state is Reply.PREPARE_FIRST:
            return self._prepared(payload, head)
        if state is Reply.DEFINITIONS:
            return self._definition()
        if state is Reply.DEFINITIONS_EOF:
            if not is_eof(payload):
                return Input.RAW
            if self._blocks:
                self._left = self._blocks.pop(0)
                return Input.EOF_NEXT
            return Input.EOF
        if state is Reply.COLUMNS:
            self._left -= 1
            if self._left:
                return Input.COLUMN
            return Input.LAST_COLUMN_NO_EOF if self._deprecate_eof else Input.LAST_COLUMN
        if state is Reply.ROWS or state is Reply.FIELD_LIST:
            if is_terminator(payload):
                return Input.END_MORE if self._more(payload) else Input.END
            return Input.ROW if state is Reply.ROWS else Input.COLUMN
        if state._value_ >= _FIRST_CURSOR_STATE:
            return self._cursor(payload, head, state)
        if state is Reply.COLUMNS_EOF:
            return Input.EOF if is_eof(payload) else Input.ROW
        if state is Reply.SIMPLE:
            if head == 0x00:
                return Input.OK
            return Input.EOF if is_terminator(payload) else Input.RAW
        return Input.RAW

    def _first(self, payload: bytes, head: int) -> Input:
        if head == 0x00:
            more = _status_of_ok(payload) & _MORE
            return Input.OK_MORE if more else Input.OK
        if head == 0xFB:
            return Input.LOCAL_INFILE
        count = Reader(payload).lenenc_int()
        if count is None or count == 0:
            raise MalformedPacket("a result set without columns")
        self.columns = self._left = count
        return Input.COLUMN_COUNT

    def _prepared(self, payload: bytes, head: int) -> Input:
        """COM_STMT_PREPARE_OK: 0x00, statement id<4>, columns<2>, params<2>, filler."""
        if head != 0x00:
            return Input.RAW
        r = Reader(payload, 5)
        self.columns, self.params = r.uint(2), r.uint(2)
        self._blocks = [n for n in (self.params, self.columns) if n]
        if not self._blocks:
            return Input.PREPARE_OK
        self._left = self._blocks.pop(0)
        return Input.PREPARE_OK_DEFS

    def _definition(self) -> Input:
        self._left -= 1
        if self._left:
            return Input.DEFINITION
        if not self._deprecate_eof:
            return Input.BLOCK_END
        if self._blocks:
            self._left = self._blocks.pop(0)
            return Input.DEFINITION
        return Input.LAST_DEFINITION

    def _cursor(self, payload: bytes, head: int, state: Reply) -> Input:
        """The states of an EXECUTE with a cursor and of a FETCH."""
        if state is Reply.CURSOR_FIRST:
            return self._first(payload, head)
        if state is Reply.CURSOR_COLUMNS:
            self._left -= 1
            if self._left:
                return Input.COLUMN
            return Input.LAST_COLUMN_NO_EOF if self._deprecate_eof else Input.LAST_COLUMN
        if not is_terminator(payload):
            return Input.RAW if state is Reply.CURSOR_EOF else Input.ROW
        status = _status_of_terminator(payload)
        if state is Reply.FETCH_ROWS:
            return Input.LAST_ROW if status & _LAST_ROW_SENT else Input.END
        if status & _CURSOR_EXISTS:
            return Input.CURSOR_OPEN
        if state is Reply.CURSOR_EOF:
            return Input.EOF if is_eof(payload) else Input.RAW
        return Input.END_MORE if status & _MORE else Input.END

    def _more(self, payload: bytes) -> bool:
        return bool(_status_of_terminator(payload) & _MORE)


_FIRST_CURSOR_STATE = Reply.CURSOR_FIRST._value_  # the cursor states come last in Reply


def _status_of_terminator(payload: bytes) -> int:
    """The status of an EOF (0xFE, warnings<2>, status<2>) or of an OK with header 0xFE."""
    if is_eof(payload):
        return payload[3] | payload[4] << 8 if len(payload) >= 5 else 0
    return _status_of_ok(payload)
