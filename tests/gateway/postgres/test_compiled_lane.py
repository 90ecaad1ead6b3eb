"""The compiled fast lane (gateway/postgres/_lane.c) against its reference, the Python lane
(gateway.postgres.lane): the same literal shapes, and, fed the same requests and answers, the
same decisions (take or hand over), the same bytes forwarded, the same hand-overs and the same
accounting. The wire tests of both lanes are in test_lane.py."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.postgres import _lane, fastlane
from gateway.postgres import lane as lane_module
from gateway.postgres import wire as pg
from gateway.postgres.dialect import RowPlan
from gateway.postgres.dialect.shape import literal_shape
from gateway.postgres.fastlane import CompiledLane
from gateway.postgres.lane import Lane
from gateway.postgres.lanehost import FIELDS, Columns, LaneHost, PortalTaken, host_for
from gateway.postgres.lifecycle import SessionPhase
from gateway.postgres.statements import StatementBook
from gateway.postgres.tracker import Definition
from gateway.postgres.wire.framing import client_limits, server_limits
from tests.gateway.postgres.dialect.corpus import CASES
from tests.gateway.postgres.dialect.test_shape import _text


def test_the_compiled_lane_is_built() -> None:
    """`pip install -e .` builds the extension, and this machine's clocks are the ones it reads:
    the gateway runs the compiled lane (a broken build must fail here, not fall back quietly)."""
    assert fastlane.AVAILABLE


def test_the_core_reads_only_the_host_interface() -> None:
    """The C core reads exactly the members of lanehost.LaneHost and, of the objects they are,
    exactly the fields lanehost's views declare (and of a Definition and a RowPlan, fields they
    have): renaming Python code the lane reads fails here, not in a session."""
    assert tuple(f.name for f in dataclasses.fields(LaneHost)) == _lane.HOST_MEMBERS
    assert _lane.FIELDS == FIELDS
    definition = Definition("SELECT 1", "allow", None)
    assert all(hasattr(definition, name) for name in FIELDS["Definition"])
    assert all(isinstance(getattr(RowPlan, name), property) for name in FIELDS["RowPlan"])


# -- literal shapes --------------------------------------------------------------------------


def _same_shape(text: str) -> None:
    expected = literal_shape(text)
    found = _lane.literal_shape_utf8(text.encode())
    assert found == (None if expected is None else expected.encode()), text


SQL_CHARS = st.sampled_from(list("ab1 2.'\"eE+-_$&;\\/*xé\x00\n\t€0()=,"))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_text(), st.text(SQL_CHARS, max_size=24), st.text(max_size=16)))
def test_compiled_shape_is_literal_shape(text: str) -> None:
    """On any text (surrogates aside: statement text is UTF-8), the C scan on the UTF-8 bytes
    gives exactly ``literal_shape``'s result, encoded — the property that makes a shape sound
    (test_shape.py) holds for the compiled lane's keys too."""
    _same_shape(text)


@pytest.mark.parametrize(
    "text",
    [
        *(case.sql for case in CASES),
        "select 'ab''",  # ends inside a string after a doubled quote: the regex backtracks
        "select 'ab''cd",
        'select "a""',
        "select 'a' 'b''",
        "select 1e+5e",
        "SELECT 3E+7.1, 1e-5e",
        "select é'1'",
        "select x'1'",
        "select 1;;; \n\t",
        " ;",
    ],
)
def test_compiled_shape_on_the_corpus(text: str) -> None:
    """Every statement of the guardrails corpus, and the scan's edge cases, shaped alike."""
    _same_shape(text)


# -- the two lanes, side by side -------------------------------------------------------------


def _judge(client: Any, text: str) -> tuple[tuple[str, str | None] | None, bool]:
    """A stand-in verdict: texts with an x are not the lane's; literals count for texts with
    an e (then only the exact text shares the verdict)."""
    known = None if "x" in text else ("allow", "rule/" + str(len(text) % 3))
    return known, "e" not in text


class _Parser:
    """A parser's reader as both lanes see it: pending_bytes() for the Python lane, the fields
    it is computed from for the compiled one (held to the real Reader below)."""

    def __init__(self, limits: tuple[int, ...]) -> None:
        self.limits, self.pending = limits, 0
        self._buf, self._pos = b"", 0

    @property
    def _chunks_len(self) -> int:
        return self.pending

    def pending_bytes(self) -> int:
        return self.pending


_MESSAGES = st.sampled_from(
    [pg.encode(pg.Query("SELECT 1")), pg.encode(pg.Sync()), pg.encode(pg.Flush()), b"Q\0\0"]
)


@given(
    st.lists(_MESSAGES, max_size=8).map(b"".join),
    st.lists(st.integers(0, 40), max_size=8),
    st.lists(st.integers(0, 3), max_size=8),
)
@example(  # a whole Query, then a Sync behind it before the Query is taken
    pg.encode(pg.Query("SELECT 1")) + pg.encode(pg.Sync()), [14, 5], [0, 1]
)
def test_the_compiled_lane_reads_a_reader_as_pending_bytes_does(
    stream: bytes, cuts: list[int], takes: list[int]
) -> None:
    """Whatever a real parser received (messages cut anywhere) and took, the core's emptiness
    check agrees with pending_bytes(): the lane never takes a request while received bytes
    wait, also when a frame ended exactly where the buffer did and more arrived behind it."""
    parser = pg.ClientParser()
    parser.receive_data(pg.encode(pg.StartupMessage({"user": "u", "database": "d"})))
    assert not isinstance(parser.next_event(), pg.NeedData)
    at = 0
    for cut, take in zip([*cuts, len(stream)], [*takes, 3], strict=False):
        assert _lane.reader_empty(parser) == (parser.pending_bytes() == 0)
        parser.receive_data(stream[at : at + cut])
        at += cut
        assert _lane.reader_empty(parser) == (parser.pending_bytes() == 0)
        for _ in range(take):
            try:
                if isinstance(parser.next_event(), pg.NeedData):
                    break
            except pg.ProtocolError:
                return  # a cut-off message: the session would end here
            assert _lane.reader_empty(parser) == (parser.pending_bytes() == 0)


class _Plan:
    def __init__(self, noop: bool) -> None:
        self.is_noop = noop


@dataclass
class _Session:
    """What either lane reads and writes of a session, with what it forwarded and handed over."""

    masks: bool
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    log: list[tuple[Any, ...]] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)
    plans: dict[bytes, _Plan | None] = field(default_factory=dict)
    # what the general path changes while it handles the next read handed to it
    general_effect: Callable[[_Session], None] | None = None
    journal_full: bool = False  # the statement journal cannot be written

    def _forwarding(self, text: str, *, held: bool = False) -> bool:
        self.calls.append(("journal", text, held))
        return not self.journal_full

    def general(self, side: str, data: bytes) -> None:
        self.calls.append((side + "_general", data))
        if self.general_effect is not None:
            self.general_effect(self)
            self.general_effect = None

    def __post_init__(self) -> None:
        book = StatementBook()
        book.committed.update(DEFINITIONS)
        self.shared = SimpleNamespace(
            phase=SessionPhase.RELAYING,
            state=SimpleNamespace(in_transaction=False),
            tracker=SimpleNamespace(queue=deque(), finished=[]),
            holding=None,
            book=book,
            portals={},
            statements_seen=0,
            rows=0,
            bytes_out=0,
            log=SimpleNamespace(
                add=self._add, record_lane=self._record_lane, forwarding=self._forwarding
            ),
            lineage=None,
        )
        self.client = SimpleNamespace(
            s=self.shared,
            deps=SimpleNamespace(core=SimpleNamespace(audit=SimpleNamespace(behind=False))),
            parser=_Parser(client_limits()),
            swallow=False,
            replay=lambda request, started: self.calls.append(("replay", request)),
        )
        self.server = SimpleNamespace(
            text_mask=object() if self.masks else None,
            parser=_Parser(server_limits()),
            plan_of=self._plan_of,
            count=lambda verdict, n=1: self.counted.extend([verdict] * n),
        )

    def _plan_of(self, raw: bytes | memoryview) -> _Plan | None:
        raw = bytes(raw)
        if raw not in self.plans:  # decided by the bytes, the same for both lanes
            self.plans[raw] = None if len(raw) % 3 == 0 else _Plan(noop=len(raw) % 3 == 1)
        return self.plans[raw]

    def _add(self, text: str, outcome: str, verdict: str, **kw: Any) -> None:
        self.log.append((text, outcome, verdict, kw["rule"], kw["rows"], kw["size"]))

    def _record_lane(self, ats: list[float], texts: list[str], verdicts: list[str],
                     rules: list[str | None], rows: list[int], sizes: list[int],
                     durations_us: list[int]) -> None:  # fmt: skip
        columns = (ats, texts, verdicts, rules, rows, sizes, durations_us)
        assert len({len(column) for column in columns}) == 1  # aligned, one entry a request
        for _, text, verdict, rule, count, size, _ in zip(*columns, strict=True):
            self.log.append((text, "ok", verdict, rule, count, size))

    def accounting(self) -> tuple[Any, ...]:
        s = self.shared
        portal = s.portals.get("")
        return (
            self.log, self.counted, s.statements_seen, s.rows, s.bytes_out, s.book.batch,
            None
            if portal is None
            else (portal.statement, portal.params, portal.described, _noop(portal.plan)),
        )  # fmt: skip


def _noop(plan: Any) -> bool | None:
    return None if plan is None else bool(plan.is_noop)


class _Python:
    """The reference: Lane driven as Relay.from_client / from_server drive it."""

    def __init__(self, session: _Session) -> None:
        self.session, self.lane = session, Lane(session.client, session.server)  # type: ignore[arg-type]

    def client(self, data: bytes) -> None:
        if not self.lane.inflight and self.lane.client_data(data):
            self.session.calls.append(("to_server", data))
            return
        self.lane.spill()
        self.session.general("client", data)

    def server(self, data: bytes) -> None:
        if self.lane.inflight and self.lane.server_data(data):
            self.session.calls.append(("to_client", data))
            self.lane.finish(data)
            return
        self.lane.spill()
        self.session.general("server", data)

    def end(self) -> None:
        self.lane.spill()


class _Compiled:
    def __init__(self, session: _Session) -> None:
        self.session = session
        calls = session.calls

        def client_general(data: bytes) -> None:
            self.core.spill()
            session.general("client", data)

        def server_general(data: bytes) -> None:
            self.core.spill()
            session.general("server", data)

        def drained(
            columns: Columns, answered: int, portal: PortalTaken | None, synced: int
        ) -> None:
            # the gateway's own accounting, on this session's stand-ins
            owner = SimpleNamespace(s=session.shared, server=session.server)
            CompiledLane._drained(owner, columns, answered, portal, synced)  # type: ignore[arg-type]

        self.relay = relay = SimpleNamespace(
            stop=lambda side, exc: calls.append(("stop", side, repr(exc))),
            client_general=client_general,
            server_general=server_general,
        )
        host = host_for(
            relay,  # type: ignore[arg-type]
            session.client,  # type: ignore[arg-type]
            session.server,  # type: ignore[arg-type]
            to_server=lambda data: calls.append(("to_server", data)),
            to_client=lambda data: calls.append(("to_client", data)),
            learn=lambda text: _judge(session.client, text),
            drained=drained,
            schedule=lambda: None,
        )
        self.core = _lane.Core(host)

    def client(self, data: bytes) -> None:
        self.core.client_received(data)

    def server(self, data: bytes) -> None:
        self.core.server_received(data)

    def end(self) -> None:
        self.core.spill()


DEFINITIONS = {
    "ok": Definition("SELECT a FROM t WHERE id = $1", "allow", None),
    "ruled": Definition("SELECT b FROM t", "allow", "reads/plain"),
    "held": Definition("DELETE FROM t", "hold", "writes/no-where"),
    "effects": Definition("SET search_path = a", "allow", None, effects=True),
    "derived": Definition("SELECT ssn || '' FROM t", "allow", None, derived=object()),  # type: ignore[arg-type]
    "": Definition("SELECT 1", "allow", None),
}
NAMES = [*DEFINITIONS, "unknown"]
TEXTS = [
    "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;",
    "SELECT abalance FROM pgbench_accounts WHERE aid = 7",
    "SELECT 'e' FROM t",
    "SELECT 'f' FROM t",
    "SELECT x FROM t",
    "SELECT 1 -- c",
    "select 'a''",
]


# Row counts as the server writes them, and as it never would (too long; not ASCII digits).
TAGS = ["SELECT 3", "SELECT 0", "INSERT 0 7", "SHOW", "SELECT " + "9" * 32, "SELECT \u0663"]


_MANGLE = st.tuples(
    st.sampled_from(["keep"] * 6 + ["flip", "cut", "tail"]),
    st.integers(0, 2**16),
    st.integers(0, 255),
    st.binary(min_size=1, max_size=6),
)


def _mangle(draw: st.DrawFn, data: bytes) -> bytes:
    """Now and then one byte changed, some cut off, or junk after: what a lane must refuse.
    (The same draws whatever ``data`` is: draws whose bounds followed earlier values made
    Hypothesis's replays inconsistent after some thousands of examples.)"""
    how, where, byte, junk = draw(_MANGLE)
    if how == "flip":
        at = where % len(data)
        return data[:at] + bytes([byte]) + data[at + 1 :]
    if how == "cut" and len(data) > 1:  # a read is never empty (asyncio's data_received)
        return data[: 1 + where % (len(data) - 1)]
    if how == "tail":
        return data + junk
    return data


@st.composite
def _request(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        text = draw(st.sampled_from(TEXTS) | _text())
        raw = pg.encode(pg.Query(text))
        if draw(st.integers(0, 9)) == 0:  # not UTF-8
            raw = raw[:-1] + b"\xe9\x00"
            raw = raw[:1] + (len(raw) - 1).to_bytes(4, "big") + raw[5:]
        return _mangle(draw, raw)
    name = draw(st.sampled_from(NAMES))
    params = draw(st.lists(st.none() | st.binary(max_size=6), max_size=3))
    bind = pg.Bind(
        "", name, (), tuple(params), tuple(draw(st.lists(st.integers(0, 1), max_size=2)))
    )
    if draw(st.integers(0, 3)) == 0:  # a value length the encoder never writes
        body = b"\x00" + name.encode() + b"\x00" + b"\x00\x00" + b"\x00\x01"
        length = draw(st.sampled_from([-3, -2, -1, 0, 2, 5, 2**31 - 1]))
        body += length.to_bytes(4, "big", signed=True) + b"xy"[: max(0, min(length, 2))]
        body += b"\x00\x00"
        encoded: bytes | pg.Bind = b"B" + (len(body) + 4).to_bytes(4, "big") + body
    else:
        encoded = bind
    tail: list[pg.FrontendMessage] = draw(
        st.sampled_from([
            [pg.Describe("P", ""), pg.Execute("", 0), pg.Sync()],
            [pg.Execute("", 0), pg.Sync()],
            [pg.Execute("", 5), pg.Sync()],
            [pg.Describe("S", name), pg.Execute("", 0), pg.Sync()],
            [pg.Execute("", 0)],
        ])
    )  # fmt: skip
    head = encoded if isinstance(encoded, bytes) else pg.encode(encoded)
    return _mangle(draw, head + b"".join(pg.encode(m) for m in tail))


@st.composite
def _answer(draw: st.DrawFn) -> bytes:
    columns = draw(st.integers(0, 3))
    parts: list[pg.BackendMessage] = []
    if draw(st.booleans()):
        parts.append(pg.BindComplete())
    shape = draw(st.sampled_from(["rows", "nodata", "none", "error"]))
    if shape == "rows":
        names = [draw(st.sampled_from(["a", "ab", "abc"])) for _ in range(columns)]
        parts.append(pg.RowDescription(tuple(pg.FieldDescription(n, 0, 0, 23) for n in names)))
    elif shape == "nodata":
        parts.append(pg.NoData())
    for _ in range(draw(st.integers(0, 3))):
        parts.append(pg.DataRow(tuple(b"1" for _ in range(columns))))
    if shape == "error":
        parts.append(pg.ErrorResponse.build("ERROR", "22012", "division by zero"))
    else:
        tag = draw(st.sampled_from(TAGS))
        parts.append(pg.CommandComplete(tag))
    parts.append(pg.ReadyForQuery(draw(st.sampled_from(["I", "I", "T", "E"]))))
    return _mangle(draw, b"".join(pg.encode(m) for m in parts))


_ROUND = st.tuples(
    _request(),
    st.lists(_answer(), max_size=2),
    st.none() | st.booleans(),  # a new session state (in a transaction or not)
    # the lane kept out
    st.none() | st.sampled_from(["pending", "behind", "swallow", "reparse", "journal"]),
)


def _steps(rounds: list[tuple[Any, ...]]) -> list[tuple[str, Any]]:
    """Rounds of a request, its answers and session changes, as one list of steps (drawn with
    plain combinators)."""
    steps: list[tuple[str, Any]] = []
    for request, answers, state, busy in rounds:
        steps.append(("client", request))
        steps.extend(("server", answer) for answer in answers)
        if state is not None:
            steps.append(("state", state))
        if busy is not None:
            steps.append(("busy", busy))
    return steps


def _pending(session: _Session) -> None:
    session.client.parser.pending = 3


def _swallow(session: _Session) -> None:
    session.client.swallow = True


def _reparse(session: _Session) -> None:  # a Parse that replaces statement "ok"
    session.shared.book.committed["ok"] = DEFINITIONS["held"]


_GENERAL_EFFECTS = {"pending": _pending, "swallow": _swallow, "reparse": _reparse}


def _run(lane: _Python | _Compiled, steps: list[tuple[str, Any]]) -> None:
    s = lane.session
    for kind, value in steps:
        if kind == "client":
            lane.client(value)
        elif kind == "server":
            lane.server(value)
        elif kind == "state":  # a new session state object: remembered verdicts are forgotten
            s.shared.state = SimpleNamespace(in_transaction=value)
        else:  # one of the general path's reasons to keep the lane out, for the next request
            if value == "behind":  # the audit writer's: set whenever it falls behind
                s.client.deps.core.audit.behind = True
            elif value == "journal":  # the disk is full: the journal records nothing
                s.journal_full = True
            else:  # the general path's own state: set while it handles something
                s.general_effect = _GENERAL_EFFECTS[value]
                lane.client(pg.encode(pg.Parse("", "SELECT 2", ())))  # never the lane's
            lane.client(pg.encode(pg.Query("SELECT 1")))
            s.client.parser.pending, s.client.deps.core.audit.behind = 0, False
            s.client.swallow = s.journal_full = False
    lane.end()


def _compare(steps: list[tuple[str, Any]], masks: bool) -> None:
    python, compiled = _Session(masks), _Session(masks)
    saved = lane_module.judge
    lane_module.judge = _judge
    try:
        _run(_Python(python), steps)
    finally:
        lane_module.judge = saved
    _run(_Compiled(compiled), steps)
    assert compiled.calls == python.calls
    assert compiled.accounting() == python.accounting()


def _bind_with_value_length(length: int) -> bytes:
    body = b"\x00ok\x00" + b"\x00\x00" + b"\x00\x01" + length.to_bytes(4, "big", signed=True)
    body += b"xy\x00\x00"
    tail = pg.encode(pg.Describe("P", "")) + pg.encode(pg.Execute("", 0)) + pg.encode(pg.Sync())
    return b"B" + (len(body) + 4).to_bytes(4, "big") + body + tail


@pytest.mark.parametrize(
    "request_",
    [
        # found by the property below: 4 + 2**31 - 1 overflowed 32 bits into a negative
        # offset, and the first compiled lane read before the message (a segfault)
        _bind_with_value_length(2**31 - 1),
        _bind_with_value_length(-2),  # no such length (-1 is NULL)
        _bind_with_value_length(2),  # the well-formed one: taken by both
        b"B\x00\x00\x00\x05\x00" + pg.encode(pg.Execute("", 0)) + pg.encode(pg.Sync()),
    ],
)
@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("after", [0, 3])
def test_binds_at_the_edges(request_: bytes, masks: bool, after: int) -> None:
    """Bind value lengths at and past the edges, and a Bind with no room for a statement
    name: both lanes decide alike (and the compiled one does not crash), also after
    well-formed Binds of the same statement were taken (and their lookup remembered)."""
    answer = b"".join(
        pg.encode(m)
        for m in (pg.BindComplete(), pg.RowDescription(()), pg.CommandComplete("SELECT 0"))
    ) + pg.encode(pg.ReadyForQuery("I"))
    taken = [("client", _bind_with_value_length(2)), ("server", answer)] * after
    _compare([*taken, ("client", request_), ("server", answer)], masks)


def _client(lane: _Compiled) -> Any:
    return lane.session.client


def _phase(phase: SessionPhase) -> Callable[[_Compiled], None]:
    return lambda lane: setattr(lane.session.shared, "phase", phase)


_OUTSIDE: dict[str, Callable[[_Compiled], None]] = {
    "behind": lambda lane: setattr(_client(lane).deps.core.audit, "behind", True),
    "closing": _phase(SessionPhase.TERMINATED),  # the client's Terminate
    "busy": _phase(SessionPhase.WAITING),  # the relay waits for a statement
    "closed": _phase(SessionPhase.CLOSED),
    "ended": _phase(SessionPhase.ENDING),
}


@pytest.mark.parametrize("change", sorted(_OUTSIDE))
def test_a_settled_lane_still_reads_what_changes_outside_the_general_path(change: str) -> None:
    """Once the compiled lane found the general path's state idle it reads it again only after
    it next hands something to Python; what other tasks change (the audit writer falling
    behind, the client closing, the relay waiting or stopping) it reads before every request."""
    session = _Session(masks=False)
    lane = _Compiled(session)
    query = pg.encode(pg.Query("SELECT a FROM t"))
    answer = pg.encode(pg.CommandComplete("SELECT 0")) + pg.encode(pg.ReadyForQuery("I"))
    for _ in range(3):  # learned, then taken with the state found idle
        lane.client(query)
        lane.server(answer)
    assert [call[0] for call in session.calls] == ["journal", "to_server", "to_client"] * 3
    _OUTSIDE[change](lane)
    lane.client(query)
    assert session.calls[-1] == ("client_general", query)


@pytest.mark.parametrize("lane_type", [_Python, _Compiled])
def test_a_request_is_journaled_before_it_is_forwarded(
    lane_type: type[_Python | _Compiled],
) -> None:
    """Both lanes hand a request's statement to the journal before they forward it (a Query's
    text, a Bind's statement); when the journal cannot record it the lane forwards nothing and
    the general path (which refuses it) gets the read."""
    session = _Session(masks=False)
    saved = lane_module.judge
    lane_module.judge = _judge
    try:
        lane = lane_type(session)
        query = pg.encode(pg.Query("SELECT a FROM t"))
        bind = b"".join(
            pg.encode(m) for m in (pg.Bind("", "ok", (), (), ()), pg.Execute("", 0), pg.Sync())
        )
        answer = pg.encode(pg.CommandComplete("SELECT 0")) + pg.encode(pg.ReadyForQuery("I"))
        lane.client(query)
        lane.server(answer)
        lane.client(bind)
        lane.server(pg.encode(pg.BindComplete()) + answer)
        session.journal_full = True
        lane.client(query)
    finally:
        lane_module.judge = saved
    assert [call[0] for call in session.calls] == [
        "journal", "to_server", "to_client", "journal", "to_server", "to_client",
        "journal", "client_general",
    ]  # fmt: skip
    assert session.calls[0] == ("journal", "SELECT a FROM t", False)
    assert session.calls[3] == ("journal", DEFINITIONS["ok"].text, False)
    assert [entry[0] for entry in session.log] == ["SELECT a FROM t", DEFINITIONS["ok"].text]


def test_a_statement_parsed_again_is_looked_up_again() -> None:
    """The compiled lane remembers a Bind's lookup while the general path's state is idle; a
    Parse that replaces the statement (the general path's) makes the next Bind look it up
    again: a statement that must be held is not run as the one it replaced."""
    session = _Session(masks=False)
    lane = _Compiled(session)
    bind = b"".join(
        pg.encode(m)
        for m in (pg.Bind("", "ok", (), (), ()), pg.Describe("P", ""), pg.Execute("", 0), pg.Sync())
    )
    answer = b"".join(
        pg.encode(m)
        for m in (pg.BindComplete(), pg.RowDescription(()), pg.CommandComplete("SELECT 0"))
    ) + pg.encode(pg.ReadyForQuery("I"))
    for _ in range(3):  # looked up, then remembered
        lane.client(bind)
        lane.server(answer)
    assert [call[0] for call in session.calls] == ["journal", "to_server", "to_client"] * 3
    session.general_effect = _reparse
    lane.client(pg.encode(pg.Parse("ok", "DELETE FROM t", ())))
    lane.client(bind)
    assert session.calls[-1] == ("client_general", bind)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ROUND, min_size=1, max_size=8).map(_steps), st.booleans())
def test_both_lanes_decide_and_account_alike(steps: list[tuple[str, Any]], masks: bool) -> None:
    """The same requests, answers and session changes, through both lanes: every read taken or
    handed over alike, the same bytes forwarded, the same requests replayed, and the same
    statement records, counters, portal and statement-book state in the end."""
    _compare(steps, masks)
