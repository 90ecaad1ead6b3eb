"""``POST /v1/reviews/{id}/decisions``: policy is enforced and every refusal has a stable code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from approvals import Actor, Identity, IdentityKind, SystemClock
from tests.gateway.api.world import ALICE, ALICE_VIA_AGENTS, ApiWorld, error_code

BOB = "bob@example.com"
BOT = "airlock-bot"


async def post(world: ApiWorld, token: str, review_id: str, **body: Any) -> httpx.Response:
    async with world.client(token) as http:
        return await http.post(f"/v1/reviews/{review_id}/decisions", json=body)


def bot_token(world: ApiWorld, groups: tuple[str, ...] = ("airlock-bots",)) -> str:
    return world.token(BOT, groups, kind=IdentityKind.SERVICE)


async def test_approve(world: ApiWorld) -> None:
    """An approver approves; the answer is the final review naming them."""
    review = await world.hold()
    response = await post(world, world.token(BOB, ["dba"]), review.id, outcome="approve")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["decided_by"], body["approvals"]) == ("approved", BOB, 1)
    assert body["decisions"][0]["approver"] == BOB
    stored = await world.runtime.repository.get_review(review.id)
    assert stored is not None
    assert stored.state.value == "approved"


async def test_deny_with_reason(world: ApiWorld) -> None:
    """A deny records the approver's reason, which the requester will see."""
    review = await world.hold()
    response = await post(
        world, world.token(BOB, ["dba"]), review.id, outcome="deny", reason="not in prod hours"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["decided_by"], body["reason"]) == (
        "denied",
        BOB,
        "not in prod hours",
    )


async def test_deny_without_reason(world: ApiWorld) -> None:
    """A deny without a reason (or with only blanks) is 403 reason_required."""
    review = await world.hold()
    token = world.token(BOB, ["dba"])
    for body in ({"outcome": "deny"}, {"outcome": "deny", "reason": "   "}):
        response = await post(world, token, review.id, **body)
        assert response.status_code == 403
        assert error_code(response) == "reason_required"


async def test_self_approval(world: ApiWorld) -> None:
    """The requester cannot approve their own review, even in the approver group."""
    review = await world.hold(ALICE)
    response = await post(
        world, world.token("alice@example.com", ["eng", "dba"]), review.id, outcome="approve"
    )
    assert response.status_code == 403
    assert error_code(response) == "self_approval"


async def test_agent_in_chain_cannot_approve(world: ApiWorld) -> None:
    """No agent of the requester's chain may decide it (approve or deny)."""
    review = await world.hold(ALICE_VIA_AGENTS)
    for agent in ("ci-runner", "sql-agent"):
        token = world.token(agent, ["dba"], kind=IdentityKind.SERVICE)
        for body in ({"outcome": "approve"}, {"outcome": "deny", "reason": "mine"}):
            response = await post(world, token, review.id, **body)
            assert response.status_code == 403, agent
            assert error_code(response) == "self_approval"


async def test_decisions_not_made_through_agents(world: ApiWorld) -> None:
    """An approver's token carrying an actor chain cannot decide: 403 forbidden."""
    review = await world.hold()
    token = world.token(BOB, ["dba"], actors=(Actor("approve-everything-agent"),))
    response = await post(world, token, review.id, outcome="approve")
    assert response.status_code == 403
    assert error_code(response) == "forbidden"


async def test_non_approver(world: ApiWorld) -> None:
    """Someone outside the approver groups and identities is 403 not_an_approver."""
    review = await world.hold()
    response = await post(
        world, world.token("mallory@example.com", ["eng"]), review.id, outcome="approve"
    )
    assert response.status_code == 403
    assert error_code(response) == "not_an_approver"


async def test_already_decided_names_the_decider(world: ApiWorld) -> None:
    """A decision on a final review is 409 already_decided naming who decided it."""
    review = await world.hold()
    assert (await post(world, world.token(BOB, ["dba"]), review.id, outcome="approve")).is_success
    for body in ({"outcome": "approve"}, {"outcome": "deny", "reason": "too late"}):
        response = await post(world, world.token("erin@example.com", ["dba"]), review.id, **body)
        assert response.status_code == 409
        assert error_code(response) == "already_decided"
        error = response.json()["error"]
        assert error["details"] == {"state": "approved", "decided_by": BOB}
        assert BOB in error["message"]


async def test_quorum(world: ApiWorld) -> None:
    """With a quorum of 2 the first approval keeps it pending; a second vote by the same
    approver is 403 already_voted; a second approver makes it final."""
    review = await world.hold(connection="pg-quorum")
    bob = world.token(BOB, ["dba"])
    first = await post(world, bob, review.id, outcome="approve")
    assert (first.json()["state"], first.json()["approvals"]) == ("pending", 1)
    again = await post(world, bob, review.id, outcome="approve")
    assert (again.status_code, error_code(again)) == (403, "already_voted")
    lead = await post(world, world.token("lead@example.com"), review.id, outcome="approve")
    assert (lead.json()["state"], lead.json()["approvals"]) == ("approved", 2)
    assert lead.json()["decided_by"] == "lead@example.com"


async def test_unknown_review(world: ApiWorld) -> None:
    """A decision on an unknown review is 404 not_found."""
    response = await post(world, world.token(BOB, ["dba"]), "nope", outcome="approve")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


async def test_invalid_body(world: ApiWorld) -> None:
    """An unknown outcome or a missing body is 422 invalid_request with the problems listed."""
    review = await world.hold()
    token = world.token(BOB, ["dba"])
    bad = await post(world, token, review.id, outcome="maybe")
    assert (bad.status_code, error_code(bad)) == (422, "invalid_request")
    assert bad.json()["error"]["details"]["problems"][0]["where"] == "body.outcome"
    async with world.client(token) as http:
        empty = await http.post(f"/v1/reviews/{review.id}/decisions")
        broken = await http.post(f"/v1/reviews/{review.id}/decisions", content=b"{nope")
    assert (empty.status_code, error_code(empty)) == (422, "invalid_request")
    assert (broken.status_code, error_code(broken)) == (422, "invalid_request")


@dataclass
class LaterClock:
    """The system clock, moved forward."""

    by: timedelta

    def now(self) -> datetime:
        return SystemClock().now() + self.by


async def test_expired_review(world: ApiWorld) -> None:
    """A decision after the review's deadline is 409 review_expired and records the expiry."""
    review = await world.hold()
    world.runtime.service.clock = LaterClock(timedelta(hours=1))
    response = await post(world, world.token(BOB, ["dba"]), review.id, outcome="approve")
    assert (response.status_code, error_code(response)) == (409, "review_expired")
    stored = await world.runtime.repository.get_review(review.id)
    assert stored is not None
    assert stored.state.value == "expired"


async def test_bot_records_for_a_person(world: ApiWorld) -> None:
    """The chat bot names the clicking person in ``approver``; the decision is theirs."""
    review = await world.hold()
    response = await post(world, bot_token(world), review.id, outcome="approve", approver=BOB)
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"] == BOB
    stored = await world.runtime.repository.get_review(review.id)
    assert stored is not None
    assert [d.approver.subject for d in stored.decisions] == [BOB]


async def test_bot_person_lookup_ignores_case(world: ApiWorld) -> None:
    """The person is found by e-mail whatever its case; the canonical spelling is recorded
    ([[people]] says Erin@Example.com, the decision says erin@example.com)."""
    review = await world.hold()
    response = await post(
        world, bot_token(world), review.id, outcome="deny", reason="no", approver="erin@example.com"
    )
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"] == "erin@example.com"


async def test_bot_cannot_lend_rights(world: ApiWorld) -> None:
    """The person's own groups decide: a non-approver, the requester, an unknown e-mail or a
    name that is not an e-mail are refused with their codes."""
    review = await world.hold(ALICE)
    bot = bot_token(world)
    cases = {
        "mallory@example.com": "not_an_approver",
        "alice@example.com": "self_approval",
        "zed@example.com": "not_an_approver",
        "zed": "unknown_person",
    }
    for approver, code in cases.items():
        response = await post(world, bot, review.id, outcome="approve", approver=approver)
        assert (response.status_code, error_code(response)) == (403, code), approver


async def test_bot_alone_is_not_an_approver(world: ApiWorld) -> None:
    """Without ``approver`` the bot decides as itself, and it is no approver."""
    review = await world.hold()
    response = await post(world, bot_token(world), review.id, outcome="approve")
    assert (response.status_code, error_code(response)) == (403, "not_an_approver")


async def test_only_the_bot_may_name_an_approver(world: ApiWorld) -> None:
    """A caller outside [api] bot_groups (or the bot acting through an agent, or a person
    in a group of that name) passing ``approver`` is 403 and nothing is recorded."""
    review = await world.hold()
    callers = [
        world.token(BOB, ["dba"]),
        world.token("eve@example.com", ["airlock-bots"]),
        world.token("root@example.com", ["airlock-admins"]),
        world.token(BOT, ["airlock-bots"], actors=(Actor("relay"),)),
    ]
    for token in callers:
        response = await post(world, token, review.id, outcome="approve", approver=BOB)
        assert (response.status_code, error_code(response)) == (403, "forbidden")
    stored = await world.runtime.repository.get_review(review.id)
    assert stored is not None
    assert (stored.state.value, stored.decisions) == ("pending", ())


async def test_bot_cannot_approve_for_the_requester_in_other_capitals(world: ApiWorld) -> None:
    """[[people]] spells Erin@Example.com; Erin's own token says erin@example.com: the bot
    still cannot approve Erin's review for her."""
    erin = Identity("erin@example.com", groups=frozenset({"eng"}))
    review = await world.hold(erin)
    response = await post(
        world, bot_token(world), review.id, outcome="approve", approver="ERIN@example.com"
    )
    assert (response.status_code, error_code(response)) == (403, "self_approval")
