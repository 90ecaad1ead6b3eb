"""The domain's one check of who acts (approvals.policy.check_actor, Power, NOT_DELEGATED) and
the canonical spelling of subjects (approvals.subjects), on the service with in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approvals import AlreadyVoted, NotDelegated, Outcome, Revoked
from approvals.model import ApproverRule, Identity, Owners
from approvals.policy import NOT_DELEGATED, Power, may_use
from approvals.service import ApprovalService
from approvals.subjects import canonical, same_subject
from tests.approvals.builders import ALICE, ALICE_VIA_CI, BOB, BOB_VIA_SLACKBOT, CAROL, DAVE
from tests.approvals.fakes import InMemoryRepository


def test_no_power_is_delegated() -> None:
    """Every power is on the list an agent never holds, and may_use says so for each."""
    assert frozenset(Power) == NOT_DELEGATED
    for power in Power:
        assert may_use(BOB, power) and not may_use(BOB_VIA_SLACKBOT, power)


async def test_a_revoked_approver_decides_nothing(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """bob is revoked: his approve and his deny are refused (Revoked), nothing is written."""
    review = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t", risk="x", rule="y")
    repo.revoked_subjects[BOB.subject] = "left"
    commits = repo.commits
    for outcome, reason in ((Outcome.APPROVE, None), (Outcome.DENY, "no")):
        with pytest.raises(Revoked, match="left"):
            await service.decide(review.id, BOB, outcome, reason)
    assert repo.commits == commits and repo.reviews[review.id].decisions == ()


async def test_an_agent_decides_nothing(service: ApprovalService, repo: InMemoryRepository) -> None:
    """bob acting through an agent is refused before anything is read or written."""
    review = await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t", risk="x", rule="y")
    with pytest.raises(NotDelegated):
        await service.decide(review.id, BOB_VIA_SLACKBOT, Outcome.APPROVE)
    assert repo.reviews[review.id].decisions == ()


async def test_a_revoked_link_of_the_requesters_chain_opens_nothing(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """ci-runner is revoked: alice → ci-runner can neither ask for access nor have a statement
    held; alice alone still can."""
    repo.revoked_subjects["ci-runner"] = "compromised"
    with pytest.raises(Revoked, match="ci-runner"):
        await service.request_access(
            ALICE_VIA_CI, "pg-pay", role=None, duration=timedelta(hours=1), reason="INC-1"
        )
    with pytest.raises(Revoked):
        await service.hold_statement(ALICE_VIA_CI, "pg-prod", "DROP TABLE t", risk="x", rule="y")
    assert repo.reviews == {}
    await service.hold_statement(ALICE, "pg-prod", "DROP TABLE t", risk="x", rule="y")


async def test_one_person_counts_once_in_any_spelling(
    service: ApprovalService, repo: InMemoryRepository
) -> None:
    """On a two-approval connection CAROL@Example.com after carol@example.com is
    `already_voted`; dave's vote then makes it final."""
    review = await service.hold_statement(ALICE, "pg-pay", "DROP TABLE t", risk="x", rule="y")
    await service.decide(review.id, CAROL, Outcome.APPROVE)
    shouting = Identity("CAROL@Example.com", groups=CAROL.groups)
    with pytest.raises(AlreadyVoted):
        await service.decide(review.id, shouting, Outcome.APPROVE)
    final = await service.decide(review.id, DAVE, Outcome.APPROVE)
    assert final.state.value == "approved" and len(final.approvals) == 2


def test_configured_identities_are_canonical() -> None:
    """Approver and owner identities written in capitals admit the canonical person."""
    rule = ApproverRule(identities=frozenset({"Lead@Example.COM"}))
    assert rule.admits(Identity("lead@example.com"))
    assert Owners(identities=frozenset({"Carol@Example.com"})).identities == {"carol@example.com"}


@given(st.text(max_size=40))
def test_canonical_is_idempotent_and_caseless(text: str) -> None:
    """canonical(canonical(s)) == canonical(s), and upper/lower spellings are the same subject."""
    once = canonical(text)
    assert canonical(once) == once
    assert same_subject(text.upper(), text.lower()) or not text.isascii()
