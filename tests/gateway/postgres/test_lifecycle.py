"""The PostgreSQL session's lifecycle (gateway.postgres.lifecycle), table and rules, checked
against a model written from the module's rules."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.postgres.lifecycle import (
    NOT_READING_CLIENT,
    TRANSITIONS,
    LifecycleError,
    SessionInput,
    SessionPhase,
    transition,
)
from gateway.postgres.relay import LiveSession
from gateway.sessions import Ending

P, I = SessionPhase, SessionInput  # noqa: E741


@given(st.sampled_from(SessionPhase), st.sampled_from(SessionInput))
def test_transition_follows_the_table(phase: SessionPhase, event: SessionInput) -> None:
    """Every (phase, input) pair either has a table entry or raises the typed error."""
    expected = TRANSITIONS[phase].get(event)
    if expected is not None:
        assert transition(phase, event) is expected
        return
    with pytest.raises(LifecycleError, match=f"{event.name} is not allowed in phase {phase.name}"):
        transition(phase, event)


def test_every_phase_has_a_row() -> None:
    """The table names every phase (an absent row would make a phase silently terminal)."""
    assert set(TRANSITIONS) == set(SessionPhase)


@given(st.sampled_from(SessionPhase))
def test_a_session_can_always_be_stopped(phase: SessionPhase) -> None:
    """STOP (revocation, shutdown, a side leaving) is accepted in every phase, and no phase
    reached by it reads the client again."""
    stopped = transition(phase, I.STOP)
    assert stopped in NOT_READING_CLIENT


@given(st.lists(st.sampled_from(SessionInput), max_size=12))
def test_closed_is_final(events: list[SessionInput]) -> None:
    """Once CLOSED, every input it accepts leaves it CLOSED, and it never reads the client."""
    phase = P.CLOSED
    for event in events:
        try:
            phase = transition(phase, event)
        except LifecycleError:
            continue
        assert phase is P.CLOSED


@dataclass
class Model:
    """The module docstring's rules, written as facts rather than as a table."""

    started: bool = False
    waiting: bool = False
    terminated: bool = False
    stopped: bool = False
    closed: bool = False

    @property
    def phase(self) -> SessionPhase:
        if self.closed:
            return P.CLOSED
        if self.terminated:
            return P.TERMINATED
        if self.stopped:
            return P.ENDING
        if not self.started:
            return P.STARTING
        return P.WAITING if self.waiting else P.RELAYING

    def apply(self, event: SessionInput) -> bool:
        """Apply ``event``; False (and no change) when the rules do not allow it."""
        phase = self.phase
        if event is I.START:
            if phase is P.STARTING or phase is P.ENDING:  # ENDING: stopped before it ran
                self.started = True
                return True
            return False
        if event is I.WAIT:  # only a relaying session starts to wait
            if phase is not P.RELAYING:
                return False
            self.waiting = True
            return True
        if event is I.RESUME:  # a statement may finish after the end: no change then
            if phase in (P.STARTING, P.RELAYING):
                return False
            self.waiting = False
            return True
        if event is I.TERMINATE:  # read by the client side while it still reads messages
            if phase in (P.RELAYING, P.WAITING, P.ENDING):
                self.terminated, self.waiting = True, False
                return True
            return False
        if event is I.STOP:  # always possible
            self.stopped, self.waiting = True, False
            return True
        if phase is P.STARTING:  # CLOSE: the relay closes what it ran
            return False
        self.closed = True
        return True


@given(st.lists(st.sampled_from(SessionInput), max_size=20))
def test_the_table_follows_the_rules(events: list[SessionInput]) -> None:
    """Any sequence of inputs moves the table exactly as the rules say, and an input the rules
    refuse raises LifecycleError and changes nothing."""
    model, phase = Model(), P.STARTING
    for event in events:
        allowed = model.apply(event)
        if allowed:
            phase = transition(phase, event)
        else:
            with pytest.raises(LifecycleError):
                transition(phase, event)
        assert phase is model.phase, (events, event)


def test_the_client_is_read_only_while_it_may_send_statements() -> None:
    """The relay drops the client's bytes unread from the end on (terminated, ending, closed);
    before that (starting, relaying, waiting) they are processed or buffered."""
    assert frozenset({P.TERMINATED, P.ENDING, P.CLOSED}) == NOT_READING_CLIENT


def test_a_session_ended_before_its_relay_runs_starts_ending() -> None:
    """LiveSession.end before the relay runs (revoked or shut down while connecting) leaves the
    session ENDING, which the relay's START keeps: it relays nothing and sends the FATAL."""
    shared = SimpleNamespace(phase=P.STARTING)
    live = LiveSession(1, shared, (0, 0))  # type: ignore[arg-type]
    live.end(Ending.REVOKED, "access revoked")
    assert shared.phase is P.ENDING
    live.end(Ending.SHUTDOWN, "the gateway is shutting down")
    assert shared.phase is P.ENDING
    assert transition(shared.phase, I.START) is P.ENDING
    assert live.ending == (
        "shutdown",
        "57P01",
        "terminating connection: the gateway is shutting down",
    )
