"""The chain rules of :mod:`approvals.chain`: every link needs access of its own, scopes only
narrow, an agent's explicit scope lets it act for someone, and a chain is never wider than any
of its links (a Hypothesis property over random chains)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approvals import AccessNotAllowed, Actor, ApprovalService, Delegation, Identity, new_id
from approvals.chain import chain_scope, intersect, links
from tests.approvals.builders import ALICE, PG_PAY, PG_PROD, connections
from tests.approvals.fakes import FakeClock, InMemoryRepository

CI = Actor("ci-runner", groups=frozenset({"eng"}))
AGENT = Actor("sql-agent", groups=frozenset({"agents"}))


def _world() -> tuple[ApprovalService, InMemoryRepository, FakeClock]:
    repo, clock = InMemoryRepository(), FakeClock()
    return ApprovalService(repo, repo.bus, clock, connections()), repo, clock


async def _delegate(
    repo: InMemoryRepository, clock: FakeClock, subject: str, connection: str, hours: int = 1
) -> Delegation:
    delegation = Delegation(
        id=new_id(),
        subject=subject,
        connection=connection,
        role=None,
        granted_by="bob@example.com",
        reason="INC-42",
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(hours=hours),
    )
    async with repo.transaction() as tx:
        await tx.add_delegation(delegation)
    return delegation


def test_links_are_the_subject_then_the_actors_in_order() -> None:
    """The subject is the first link (with the identity's groups), then each actor."""
    chain = links(replace(ALICE, actors=(CI, AGENT)))
    assert [(link.subject, link.is_actor) for link in chain] == [
        ("alice@example.com", False),
        ("ci-runner", True),
        ("sql-agent", True),
    ]
    assert chain[2].groups == {"agents"}


async def test_every_link_needs_access_of_its_own() -> None:
    """On a standing connection a chain connects only if every link is in allow_groups."""
    service, _, _ = _world()
    assert await service.authorize_connect(replace(ALICE, actors=(CI,)), "pg-prod") is None
    with pytest.raises(AccessNotAllowed, match=r"sql-agent \(in the chain .*\) has no access"):
        await service.authorize_connect(replace(ALICE, actors=(CI, AGENT)), "pg-prod")


async def test_an_agent_with_its_own_delegation_may_act() -> None:
    """A link without group access may act where it holds a live delegation; the session rests
    on the delegation of the chain that expires first."""
    service, repo, clock = _world()
    mine = await _delegate(repo, clock, "alice@example.com", "pg-pay", hours=4)
    agents = await _delegate(repo, clock, "sql-agent", "pg-pay", hours=1)
    chained = replace(ALICE, actors=(replace(CI, scope=frozenset({"pg-pay"})), AGENT))
    assert await service.authorize_connect(chained, "pg-pay") == agents
    clock.advance(timedelta(hours=2))
    with pytest.raises(AccessNotAllowed, match="sql-agent"):
        await service.authorize_connect(chained, "pg-pay")
    assert await service.authorize_connect(ALICE, "pg-pay") == mine


async def test_an_agents_explicit_scope_lets_it_act_and_narrows_it() -> None:
    """An actor with an explicit scope acts there for someone with access, and nowhere else."""
    service, repo, clock = _world()
    await _delegate(repo, clock, "alice@example.com", "pg-pay")
    scoped = Actor("sql-agent", groups=frozenset({"eng"}), scope=frozenset({"pg-pay"}))
    chained = replace(ALICE, actors=(scoped,))
    assert await service.authorize_connect(chained, "pg-pay") is not None
    with pytest.raises(AccessNotAllowed, match="outside the service account's scope"):
        await service.authorize_connect(chained, "pg-prod")
    with pytest.raises(AccessNotAllowed, match=r"mallory@example\.com .* has no access"):
        await service.authorize_connect(replace(chained, subject="mallory@example.com"), "pg-pay")


async def test_the_tokens_scope_is_a_ceiling_never_a_grant() -> None:
    """``Identity.scope`` refuses what it leaves out and grants nothing it names."""
    service, _, _ = _world()
    with pytest.raises(AccessNotAllowed, match="does not include pg-prod"):
        await service.authorize_connect(replace(ALICE, scope=frozenset({"pg-pay"})), "pg-prod")
    with pytest.raises(AccessNotAllowed, match="has no access to pg-pay"):
        await service.authorize_connect(replace(ALICE, scope=frozenset({"pg-pay"})), "pg-pay")


async def test_chain_scope_is_per_link_and_intersects() -> None:
    """Each link's reach: standing groups plus live delegations; the chain's is the meet."""
    service, repo, clock = _world()
    await _delegate(repo, clock, "alice@example.com", "pg-pay")
    who = replace(ALICE, actors=(CI,))
    per_link = await chain_scope(service.connections, repo, who, clock.now())
    assert per_link == {"alice@example.com": {"pg-prod", "pg-pay"}, "ci-runner": {"pg-prod"}}
    assert intersect(per_link.values(), None) == {"pg-prod"}
    assert intersect(per_link.values(), frozenset({"pg-pay"})) == frozenset()


GROUPS = st.frozensets(st.sampled_from(["eng", "ops", "agents"]), max_size=2)


@settings(max_examples=60, deadline=None)
@given(
    subject_groups=GROUPS,
    actor_groups=st.lists(GROUPS, min_size=1, max_size=3),
    allowed=st.dictionaries(st.sampled_from(["c1", "c2", "c3"]), GROUPS, min_size=1),
)
def test_a_chain_is_never_wider_than_any_link(
    subject_groups: frozenset[str],
    actor_groups: list[frozenset[str]],
    allowed: dict[str, frozenset[str]],
) -> None:
    """For random groups and connections: the chain may connect exactly where every link may,
    and its scope lies inside every link's reach."""
    conns = {n: replace(PG_PROD, name=n, allow_groups=g) for n, g in allowed.items()}
    conns["pay"] = replace(PG_PAY, name="pay")
    repo, clock = InMemoryRepository(), FakeClock()
    service = ApprovalService(repo, repo.bus, clock, conns)
    actors = tuple(Actor(f"agent-{i}", groups=g) for i, g in enumerate(actor_groups))
    who = Identity("alice@example.com", groups=subject_groups, actors=actors)

    async def check() -> None:
        per_link = await chain_scope(conns, repo, who, clock.now())
        meet = intersect(per_link.values(), None)
        for reach in per_link.values():
            assert meet <= reach
        for name in conns:
            try:
                await service.authorize_connect(who, name)
                admitted = True
            except AccessNotAllowed:
                admitted = False
            assert admitted == (name in meet)

    asyncio.run(check())
