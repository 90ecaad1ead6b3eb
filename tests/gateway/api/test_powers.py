"""No power passes to an agent: a delegated token (an ``act`` chain) acting for an admin, an
auditor, an owner or an approver is refused everything that needs that power, on every route,
while the same person's own token is not; refusals change nothing in the store. Decisions on
digest lines and grants pass the same revocation check as reviews."""

from __future__ import annotations

from datetime import timedelta

import httpx

from approvals import Actor, Identity, IdentityKind
from approvals.access_review import AccessEntry, Digest, EntryKind, Recipient
from store import DigestStore
from tests.gateway.api.test_access import REQUEST, ask, granted
from tests.gateway.api.world import ApiWorld, error_code

AGENT = (Actor("helper-agent"),)
CAROL = "carol@example.com"  # owns pg-test
DAVE = "dave@example.com"  # owns pg-req


async def _get(world: ApiWorld, token: str, path: str) -> httpx.Response:
    async with world.client(token) as http:
        return await http.get(path)


async def test_an_agent_acting_for_an_auditor_reads_no_audit_trail(world: ApiWorld) -> None:
    """The auditor's own token reads /v1/audit, the service accounts and the revocations; the
    same auditor through an agent gets 403 on each, and sees no one else's review."""
    review = await world.hold()
    direct = world.token("sec@example.com", ["auditors"])
    agent = world.token("sec@example.com", ["auditors"], actors=AGENT)
    for path in ("/v1/audit", "/v1/service-accounts", "/v1/revocations/subjects"):
        assert (await _get(world, direct, path)).status_code == 200, path
        refused = await _get(world, agent, path)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden"), path
    assert [r["id"] for r in (await _get(world, direct, "/v1/reviews")).json()] == [review.id]
    assert (await _get(world, agent, "/v1/reviews")).json() == []
    assert (await _get(world, agent, f"/v1/reviews/{review.id}")).status_code == 404


async def test_an_agent_acting_for_an_owner_has_no_owner_power(world: ApiWorld) -> None:
    """dave owns pg-req: his own token reads its access review, lists alice's grant and could
    revoke it; through an agent he reads no review, lists nothing of alice's and his revoke is
    403, and the grant stays active."""
    grant = await granted(world)
    direct = world.token(DAVE)
    agent = world.token(DAVE, actors=AGENT)
    assert (await _get(world, direct, "/v1/access-reviews")).status_code == 200
    refused = await _get(world, agent, "/v1/access-reviews")
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    assert [d["id"] for d in (await _get(world, direct, "/v1/delegations")).json()] == [grant]
    assert (await _get(world, agent, "/v1/delegations")).json() == []
    async with world.client(agent) as http:
        revoked = await http.post(f"/v1/delegations/{grant}/revoke", json={"reason": "mine"})
    assert (revoked.status_code, error_code(revoked)) == (403, "forbidden")
    held = await world.runtime.repository.get_delegation(grant)
    assert held is not None and held.revoked_at is None


async def test_an_agent_acting_for_an_approver_sees_and_decides_nothing(world: ApiWorld) -> None:
    """bob approves pg-req requests: through an agent he lists none of alice's and cannot
    decide one; the review stays pending with no decision."""
    review = (await ask(world, REQUEST)).json()
    agent = world.token("bob@example.com", ["dba"], actors=AGENT)
    assert (await _get(world, agent, "/v1/access-requests")).json() == []
    async with world.client(agent) as http:
        answer = await http.post(
            f"/v1/reviews/{review['id']}/decisions", json={"outcome": "approve"}
        )
    assert (answer.status_code, error_code(answer)) == (403, "forbidden")
    stored = await world.runtime.repository.get_review(review["id"])
    assert stored is not None and (stored.state.value, stored.decisions) == ("pending", ())


async def test_an_agent_acting_for_an_admin_administers_nothing(world: ApiWorld) -> None:
    """An admin's agent cannot create a service account or revoke anyone; nothing is stored."""
    agent = world.token("root@example.com", ["airlock-admins"], actors=AGENT)
    async with world.client(agent) as http:
        made = await http.post("/v1/service-accounts", json={"name": "sneaky"})
        revoked = await http.post(
            "/v1/revocations/subjects", json={"subject": "bob@example.com", "reason": "x"}
        )
    assert (made.status_code, revoked.status_code) == (403, 403)
    assert await world.runtime.identity.accounts.list() == []
    assert await world.runtime.identity.store.list_revoked_subjects() == []


async def _digest(world: ApiWorld, grant: str) -> str:
    """dave's digest for pg-req with alice's grant as its one line."""
    now = world.runtime.clock.now()
    held = await world.runtime.repository.get_delegation(grant)
    assert held is not None
    line = AccessEntry(
        EntryKind.GRANT, grant, "pg-req", held.subject, since=held.created_at,
        expires_at=held.expires_at,
    )  # fmt: skip
    digest = Digest("2026-W49/person:dave@example.com", Recipient("person", DAVE), "2026-W49",
                    now - timedelta(minutes=1), (line,))  # fmt: skip
    await DigestStore(world.runtime.repository).save([digest])
    return digest.id


async def _revoke_line(
    world: ApiWorld, token: str, digest: str, grant: str, **body: str
) -> tuple[int, str | None]:
    """Revoke the digest's line; (status, error code or None)."""
    async with world.client(token) as http:
        answer = await http.post(
            "/v1/access-reviews/decisions",
            json={"digest": digest, "action": "revoke", "line": grant, **body},
        )
    return answer.status_code, None if answer.is_success else error_code(answer)


async def test_digest_decisions_refuse_agents_and_revoked_owners(world: ApiWorld) -> None:
    """On a digest line, dave's agent is refused, and once dave is revoked the bot naming him
    (in capitals) is refused with `revoked`; the grant stays active and no recertification or
    revocation is recorded. Before that, nothing else stood in his way: his own token works."""
    grant = await granted(world)
    digest = await _digest(world, grant)
    agent = world.token(DAVE, actors=AGENT)
    assert await _revoke_line(world, agent, digest, grant) == (403, "forbidden")
    bot = world.token("airlock-bot", ["airlock-bots"], kind=IdentityKind.SERVICE)
    root = Identity("root@example.com", groups=frozenset({"airlock-admins"}))
    await world.runtime.identity.revoke_subject(DAVE, "left", root, world.runtime.clock.now())
    refused = await _revoke_line(world, bot, digest, grant, decider="Dave@Example.COM")
    assert refused == (403, "revoked")
    held = await world.runtime.repository.get_delegation(grant)
    assert held is not None and held.revoked_at is None
    audit = await world.runtime.repository.list_audit(target=grant)
    assert [e.action for e in audit] == ["delegation.granted"]
    await world.runtime.identity.store.restore_subject(DAVE, root, world.runtime.clock.now())
    assert await _revoke_line(world, bot, digest, grant, decider=DAVE) == (200, None)
    held = await world.runtime.repository.get_delegation(grant)
    assert held is not None and held.revoked_at is not None


async def test_the_bot_cannot_ask_or_revoke_for_a_revoked_person(world: ApiWorld) -> None:
    """Once mallory and dave are revoked, the bot asking access for Mallory@Example.com and
    revoking alice's grant for dave (its owner) are both 403 `revoked`: no review is opened and
    the grant stays active."""
    grant = await granted(world)
    root = Identity("root@example.com", groups=frozenset({"airlock-admins"}))
    now = world.runtime.clock.now()
    for who in ("mallory@example.com", DAVE):
        await world.runtime.identity.revoke_subject(who, "left", root, now)
    bot = world.token("airlock-bot", ["airlock-bots"], kind=IdentityKind.SERVICE)
    before = await world.runtime.repository.list_reviews()
    async with world.client(bot) as http:
        asked = await http.post(
            "/v1/access-requests", json={**REQUEST, "requester": "Mallory@Example.com"}
        )
        revoked = await http.post(
            f"/v1/delegations/{grant}/revoke", json={"reason": "mine", "revoker": DAVE}
        )
    assert (asked.status_code, error_code(asked)) == (403, "revoked")
    assert (revoked.status_code, error_code(revoked)) == (403, "revoked")
    assert await world.runtime.repository.list_reviews() == before
    held = await world.runtime.repository.get_delegation(grant)
    assert held is not None and held.revoked_at is None
