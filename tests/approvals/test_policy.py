"""Approval policy: who may decide, when a reason is needed, break-glass, and access requests."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals.errors import (
    AlreadyVoted,
    GrantTooLong,
    NotAnApprover,
    PolicyViolation,
    ReasonRequired,
    SelfApproval,
)
from approvals.model import Actor, ApproverRule, Identity, Outcome
from approvals.policy import check_access_request, check_decision
from tests.approvals.builders import (
    ALICE,
    ALICE_VIA_AGENTS,
    ALICE_VIA_CI,
    BOB,
    BOB_VIA_SLACKBOT,
    CAROL,
    CI_RUNNER,
    MALLORY,
    PG_PAY,
    PG_PROD,
    SQL_AGENT,
    decision,
    review,
)

# -- no self-approval ----------------------------------------------------------------------------


def test_an_on_call_approver_may_approve() -> None:
    """The baseline: an on-call approver outside the requester's chain passes every check."""
    check_decision(review(ALICE_VIA_AGENTS), PG_PROD, BOB, Outcome.APPROVE, None)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_requester_cannot_decide_own_review(outcome: Outcome) -> None:
    """The requester may neither approve nor deny their own review, even as an on-call approver."""
    oncall_alice = replace(ALICE, groups=ALICE.groups | {"dba-oncall"})
    with pytest.raises(SelfApproval, match="requester's chain"):
        check_decision(review(oncall_alice), PG_PROD, oncall_alice, outcome, "looks fine")


@pytest.mark.parametrize("agent", [CI_RUNNER, SQL_AGENT], ids=["ci-runner", "sql-agent"])
def test_agents_in_requester_chain_cannot_approve(agent: Identity) -> None:
    """For alice → ci-runner → sql-agent, neither ci-runner nor sql-agent may approve."""
    with pytest.raises(SelfApproval) as caught:
        check_decision(review(ALICE_VIA_AGENTS), PG_PROD, agent, Outcome.APPROVE, None)
    assert "alice@example.com → ci-runner → sql-agent" in caught.value.message


def test_subject_cannot_approve_what_its_agent_asked_for() -> None:
    """alice approving a review her own agent chain opened is self-approval."""
    oncall_alice = replace(ALICE, groups=frozenset({"dba-oncall"}))
    with pytest.raises(SelfApproval):
        check_decision(review(ALICE_VIA_CI), PG_PROD, oncall_alice, Outcome.APPROVE, None)


def test_approver_whose_chain_intersects_requester_chain_is_refused() -> None:
    """bob acting through sql-agent cannot approve a review that sql-agent opened for alice."""
    bob_via_sql_agent = replace(BOB, actors=(Actor("sql-agent"),))
    with pytest.raises(PolicyViolation):
        check_decision(review(ALICE_VIA_AGENTS), PG_PROD, bob_via_sql_agent, Outcome.APPROVE, None)


chain_links = st.sampled_from(["ci-runner", "sql-agent", "deploy-bot", "notebook", "etl"])


@settings(deadline=None)
@given(
    actors=st.lists(chain_links, max_size=4, unique=True),
    candidate=st.sampled_from(
        ["alice@example.com", "ci-runner", "sql-agent", "deploy-bot", "notebook", "etl", "bob"]
    ),
)
def test_self_approval_iff_approver_in_requester_chain(actors: list[str], candidate: str) -> None:
    """For any requester chain, an on-call approver is refused exactly when they are in it."""
    requester = replace(ALICE, actors=tuple(Actor(a) for a in actors))
    who = Identity(candidate, groups=frozenset({"dba-oncall"}))
    if candidate in requester.chain:
        with pytest.raises(SelfApproval):
            check_decision(review(requester), PG_PROD, who, Outcome.APPROVE, None)
    else:
        check_decision(review(requester), PG_PROD, who, Outcome.APPROVE, None)


# -- who is an approver --------------------------------------------------------------------------


def test_non_approver_is_refused() -> None:
    """Someone in none of the approver groups or identities gets NotAnApprover (42501)."""
    message = "mallory@example.com is not an approver for pg-prod"
    with pytest.raises(NotAnApprover, match=re.escape(message)):
        check_decision(review(), PG_PROD, MALLORY, Outcome.APPROVE, None)
    assert NotAnApprover.sqlstate == "42501"


def test_approver_listed_by_identity_is_admitted() -> None:
    """An identity named in approvers.identities may approve without being in a group."""
    conn = replace(PG_PROD, approvers=ApproverRule(identities=frozenset({MALLORY.subject})))
    check_decision(review(connection=conn), conn, MALLORY, Outcome.APPROVE, None)
    with pytest.raises(NotAnApprover):
        check_decision(review(connection=conn), conn, BOB, Outcome.APPROVE, None)


def test_agent_acting_for_an_approver_is_refused() -> None:
    """A decision by an agent acting for bob is refused even though bob is on call."""
    with pytest.raises(PolicyViolation, match="agent acting for someone") as caught:
        check_decision(review(), PG_PROD, BOB_VIA_SLACKBOT, Outcome.APPROVE, None)
    assert "bob@example.com → slack-bot" in caught.value.message


# -- reasons and votes ---------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   \t"])
def test_deny_needs_a_reason(reason: str | None) -> None:
    """A deny with no reason, an empty one or only whitespace raises ReasonRequired."""
    with pytest.raises(ReasonRequired):
        check_decision(review(), PG_PROD, BOB, Outcome.DENY, reason)


def test_deny_with_reason_and_approve_without_reason_pass() -> None:
    """A deny with a reason passes; an approve needs no reason."""
    check_decision(review(), PG_PROD, BOB, Outcome.DENY, "not during business hours")
    check_decision(review(), PG_PROD, BOB, Outcome.APPROVE, None)


@pytest.mark.parametrize("second", list(Outcome))
def test_double_vote_is_refused(second: Outcome) -> None:
    """An approver who already voted on a review cannot vote again, either way."""
    pending = review(connection=PG_PAY)
    voted = replace(pending, decisions=(decision(pending, BOB),))
    with pytest.raises(AlreadyVoted, match="already voted"):
        check_decision(voted, PG_PAY, BOB, second, "changed my mind")
    check_decision(voted, PG_PAY, CAROL, second, "second pair of eyes")


# -- break-glass ---------------------------------------------------------------------------------


def test_break_glass_by_requester_with_reason_passes() -> None:
    """The requester may break glass with a reason where the connection allows it."""
    check_decision(review(), PG_PROD, ALICE, Outcome.APPROVE, "INC-42", break_glass=True)


def test_break_glass_by_requester_for_own_agent_chain_passes() -> None:
    """alice may break glass on a review her agent chain opened (the subject is the requester)."""
    held = review(ALICE_VIA_AGENTS)
    check_decision(held, PG_PROD, ALICE, Outcome.APPROVE, "INC-42", break_glass=True)


@pytest.mark.parametrize("who", [BOB, CI_RUNNER], ids=["approver", "agent-in-chain"])
def test_break_glass_is_for_the_requester_only(who: Identity) -> None:
    """Anyone but the requester asking for break-glass is refused."""
    with pytest.raises(PolicyViolation, match="requester's own"):
        check_decision(
            review(ALICE_VIA_AGENTS), PG_PROD, who, Outcome.APPROVE, "INC-42", break_glass=True
        )


def test_break_glass_by_agent_acting_for_requester_is_refused() -> None:
    """The requester's agent cannot break glass on their behalf."""
    with pytest.raises(PolicyViolation, match="agent"):
        check_decision(
            review(ALICE_VIA_CI), PG_PROD, ALICE_VIA_CI, Outcome.APPROVE, "INC-42", break_glass=True
        )


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_break_glass_needs_a_reason(reason: str | None) -> None:
    """Break-glass without a (non-blank) reason raises ReasonRequired."""
    with pytest.raises(ReasonRequired):
        check_decision(review(), PG_PROD, ALICE, Outcome.APPROVE, reason, break_glass=True)


def test_break_glass_needs_the_connection_to_allow_it() -> None:
    """Break-glass on a connection without break_glass enabled is refused."""
    with pytest.raises(PolicyViolation, match="not enabled on pg-pay"):
        check_decision(
            review(connection=PG_PAY), PG_PAY, ALICE, Outcome.APPROVE, "INC-42", break_glass=True
        )


def test_break_glass_cannot_deny() -> None:
    """Break-glass only approves; a break-glass deny is refused."""
    with pytest.raises(PolicyViolation, match="cancel"):
        check_decision(review(), PG_PROD, ALICE, Outcome.DENY, "nevermind", break_glass=True)


# -- access requests -----------------------------------------------------------------------------


def test_access_request_within_limits_passes() -> None:
    """A member of allow_groups asking for up to max_grant with a reason passes."""
    check_access_request(PG_PROD, ALICE, timedelta(hours=2), "INC-42")
    check_access_request(PG_PROD, ALICE, PG_PROD.max_grant, "INC-42")


def test_access_request_longer_than_max_grant_is_refused() -> None:
    """A duration over max_grant raises GrantTooLong saying both durations."""
    with pytest.raises(GrantTooLong, match="9h is longer than pg-prod's maximum grant of 8h"):
        check_access_request(PG_PROD, ALICE, timedelta(hours=9), "INC-42")
    with pytest.raises(GrantTooLong, match="28801s is longer than"):
        check_access_request(PG_PROD, ALICE, PG_PROD.max_grant + timedelta(seconds=1), "INC-42")


@pytest.mark.parametrize("duration", [timedelta(0), timedelta(seconds=-1), timedelta(hours=-3)])
def test_access_request_needs_a_positive_duration(duration: timedelta) -> None:
    """A zero or negative duration is refused."""
    with pytest.raises(PolicyViolation, match="positive duration"):
        check_access_request(PG_PROD, ALICE, duration, "INC-42")


@pytest.mark.parametrize("reason", ["", "   "])
def test_access_request_needs_a_reason(reason: str) -> None:
    """An access request with a blank reason raises ReasonRequired."""
    with pytest.raises(ReasonRequired):
        check_access_request(PG_PROD, ALICE, timedelta(hours=1), reason)


def test_access_request_limited_to_allow_groups() -> None:
    """Where allow_groups is set, only its members may ask; where empty, anyone may."""
    with pytest.raises(PolicyViolation, match="none of the groups"):
        check_access_request(PG_PROD, BOB, timedelta(hours=1), "INC-42")
    check_access_request(PG_PAY, BOB, timedelta(hours=1), "INC-42")


@settings(deadline=None)
@given(seconds=st.integers(min_value=-86_400, max_value=86_400))
def test_access_duration_bounds(seconds: int) -> None:
    """Any duration is accepted exactly when 0 < duration ≤ max_grant."""
    duration = timedelta(seconds=seconds)
    if 0 < seconds <= PG_PROD.max_grant.total_seconds():
        check_access_request(PG_PROD, ALICE, duration, "INC-42")
    else:
        with pytest.raises(PolicyViolation):
            check_access_request(PG_PROD, ALICE, duration, "INC-42")
