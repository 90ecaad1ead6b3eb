"""The review lifecycle table, checked over every (state, input) pair and random input runs."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals.errors import InvalidTransition
from approvals.states import TERMINAL, TRANSITIONS, ReviewInput, ReviewState, transition

# The documented rules, written out independently of the table under test.
PENDING_TARGETS = {
    ReviewInput.APPROVE_PARTIAL: ReviewState.PENDING,
    ReviewInput.APPROVE_FINAL: ReviewState.APPROVED,
    ReviewInput.DENY: ReviewState.DENIED,
    ReviewInput.EXPIRE: ReviewState.EXPIRED,
    ReviewInput.CANCEL: ReviewState.CANCELLED,
    ReviewInput.ABANDON: ReviewState.CANCELLED,
}
DOCUMENTED_TERMINAL = {
    ReviewState.APPROVED,
    ReviewState.DENIED,
    ReviewState.EXPIRED,
    ReviewState.CANCELLED,
}

states = st.sampled_from(ReviewState)
inputs = st.sampled_from(ReviewInput)


def test_terminal_set_is_every_state_but_pending() -> None:
    """TERMINAL is exactly approved, denied, expired and cancelled."""
    assert set(TERMINAL) == DOCUMENTED_TERMINAL
    assert set(ReviewState) == DOCUMENTED_TERMINAL | {ReviewState.PENDING}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(ReviewState, ReviewInput)))
def test_every_pair_has_its_documented_outcome(state: ReviewState, event: ReviewInput) -> None:
    """Every one of the 30 pairs: pending goes to its documented target, terminal raises."""
    if state is ReviewState.PENDING:
        assert transition(state, event) is PENDING_TARGETS[event]
    else:
        with pytest.raises(InvalidTransition, match=f"{state}.*{event}"):
            transition(state, event)


@settings(deadline=None)
@given(state=st.sampled_from(sorted(TERMINAL)), event=inputs)
def test_terminal_states_accept_nothing(state: ReviewState, event: ReviewInput) -> None:
    """A terminal state raises InvalidTransition (code invalid_transition, 55000) on any input."""
    with pytest.raises(InvalidTransition) as caught:
        transition(state, event)
    assert caught.value.code == "invalid_transition"
    assert caught.value.sqlstate == "55000"


@settings(deadline=None)
@given(event=inputs)
def test_pending_accepts_all_five_inputs(event: ReviewInput) -> None:
    """From pending every input is accepted and leads to its documented target."""
    assert transition(ReviewState.PENDING, event) is PENDING_TARGETS[event]


@settings(deadline=None)
@given(state=states, event=inputs)
def test_transition_agrees_with_the_table(state: ReviewState, event: ReviewInput) -> None:
    """transition() is the table: an entry is returned, a missing entry raises."""
    if (state, event) in TRANSITIONS:
        assert transition(state, event) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(InvalidTransition):
            transition(state, event)


def test_table_has_no_entry_out_of_a_terminal_state() -> None:
    """Every table entry starts from pending, and all five pending entries are present."""
    assert all(state is ReviewState.PENDING for state, _ in TRANSITIONS)
    assert {event for _, event in TRANSITIONS} == set(ReviewInput)
    assert len(TRANSITIONS) == len(ReviewInput)


@settings(deadline=None)
@given(run=st.lists(inputs, max_size=30))
def test_random_runs_never_leave_a_terminal_state(run: list[ReviewInput]) -> None:
    """Along any input sequence, once terminal the state stays put and every later input raises."""
    state = ReviewState.PENDING
    first_terminal: ReviewState | None = None
    for event in run:
        if first_terminal is None:
            state = transition(state, event)
            assert state is PENDING_TARGETS[event]
            if state in TERMINAL:
                first_terminal = state
        else:
            with pytest.raises(InvalidTransition):
                transition(state, event)
            assert state is first_terminal
    reached_terminal = any(event is not ReviewInput.APPROVE_PARTIAL for event in run)
    assert (state in TERMINAL) == reached_terminal
