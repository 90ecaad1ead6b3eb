"""The connection-phase state machine, table and behaviour, checked against a model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.postgres.wire import (
    CancelRequest,
    ClientParser,
    DataAfterEncryptionRequest,
    GSSENCRequest,
    Message,
    SSLRequest,
    StartupMessage,
    StateError,
    UnexpectedMessage,
    encode,
)
from gateway.postgres.wire.state import (
    PENDING_STATES,
    TRANSITIONS,
    Input,
    ParserState,
    transition,
)

LOCAL = {Input.ENCRYPTION_ACCEPTED, Input.ENCRYPTION_REFUSED, Input.EXPECT_SSL_RESPONSE}


@given(st.sampled_from(ParserState), st.sampled_from(Input))
def test_transition_follows_the_table(state: ParserState, event: Input) -> None:
    """Every (state, input) pair either has a table entry or raises the typed error."""
    expected = TRANSITIONS[state].get(event)
    if expected is not None:
        assert transition(state, event) is expected
        return
    error = StateError if event in LOCAL else UnexpectedMessage
    with pytest.raises(error):
        transition(state, event)


def test_pending_states_accept_only_answers() -> None:
    """A pending state has entries only for the gateway's answer."""
    for state in PENDING_STATES:
        assert set(TRANSITIONS[state]) == {Input.ENCRYPTION_ACCEPTED, Input.ENCRYPTION_REFUSED}


@dataclass
class Model:
    """PostgreSQL's ProcessStartupPacket rules, written independently of the table."""

    ssl_done: bool = False
    gss_done: bool = False
    pending: str | None = None


PACKETS: dict[str, Message] = {
    "ssl": SSLRequest(),
    "gss": GSSENCRequest(),
    "startup": StartupMessage({"user": "u"}),
    "cancel": CancelRequest(1, 2),
}


def step(parser: ClientParser, model: Model, action: str, junk: bool) -> bool:
    """Apply one action to both; return False once the connection would be closed."""
    if action in ("accept", "refuse"):
        if model.pending is None:
            with pytest.raises(StateError):
                (parser.encryption_accepted if action == "accept" else parser.encryption_refused)()
            return False
        if junk:
            parser.receive_data(b"\0")
            with pytest.raises(DataAfterEncryptionRequest):
                parser.encryption_accepted()
            return False
        accepted = action == "accept"
        (parser.encryption_accepted if accepted else parser.encryption_refused)()
        if model.pending == "ssl":
            model.ssl_done, model.gss_done = True, model.gss_done or accepted
        else:
            model.gss_done, model.ssl_done = True, model.ssl_done or accepted
        model.pending = None
        return True
    parser.receive_data(encode(PACKETS[action]))
    if model.pending is not None:
        with pytest.raises(DataAfterEncryptionRequest):
            parser.next_event()
        return False
    allowed = action in ("startup", "cancel") or not getattr(model, f"{action}_done")
    if not allowed:
        with pytest.raises(UnexpectedMessage):
            parser.next_event()
        return False
    assert parser.next_event() == PACKETS[action]
    model.pending = action if action in ("ssl", "gss") else None
    return action in ("ssl", "gss")


actions = st.sampled_from(["ssl", "gss", "startup", "cancel", "accept", "refuse"])


@given(st.lists(st.tuples(actions, st.booleans()), max_size=8))
def test_startup_phase_matches_the_server_rules(script: list[tuple[str, bool]]) -> None:
    """Random request/answer sequences behave like PostgreSQL's startup-packet handling."""
    parser = ClientParser()
    model = Model()
    for action, junk in script:
        if not step(parser, model, action, junk):
            break
