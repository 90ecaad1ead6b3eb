"""``GET /v1/reviews``: filtering, and who may see a review (404, not 403, for everyone else)."""

from __future__ import annotations

from approvals import Actor, Identity
from tests.gateway.api.world import ALICE, ALICE_VIA_AGENTS, ApiWorld, error_code

BOB = "bob@example.com"


async def ids(world: ApiWorld, token: str, **params: str) -> set[str]:
    async with world.client(token) as http:
        response = await http.get("/v1/reviews", params=params)
    assert response.status_code == 200, response.text
    return {review["id"] for review in response.json()}


async def decide(world: ApiWorld, review_id: str, outcome: str, reason: str | None = None) -> None:
    async with world.client(world.token(BOB, ["dba"])) as http:
        response = await http.post(
            f"/v1/reviews/{review_id}/decisions", json={"outcome": outcome, "reason": reason}
        )
    assert response.status_code == 200, response.text


async def test_list_filters_by_state(world: ApiWorld) -> None:
    """?state= returns only the reviews in that state."""
    pending = await world.hold(statement="DROP TABLE a")
    approved = await world.hold(statement="DROP TABLE b")
    denied = await world.hold(statement="DROP TABLE c")
    await decide(world, approved.id, "approve")
    await decide(world, denied.id, "deny", "not now")
    token = world.token(BOB, ["dba"])
    assert await ids(world, token) == {pending.id, approved.id, denied.id}
    assert await ids(world, token, state="pending") == {pending.id}
    assert await ids(world, token, state="approved") == {approved.id}
    assert await ids(world, token, state="denied") == {denied.id}
    assert await ids(world, token, state="expired") == set()


async def test_list_filters_by_connection(world: ApiWorld) -> None:
    """?connection= returns only that connection's reviews."""
    one = await world.hold(connection="pg-test")
    two = await world.hold(connection="pg-quorum")
    token = world.token(BOB, ["dba"])
    assert await ids(world, token, connection="pg-test") == {one.id}
    assert await ids(world, token, connection="pg-quorum") == {two.id}


async def test_bad_state_filter(world: ApiWorld) -> None:
    """An unknown state is a 422 invalid_request naming the parameter."""
    async with world.client(world.token(BOB, ["dba"])) as http:
        response = await http.get("/v1/reviews", params={"state": "maybe"})
    assert response.status_code == 422
    assert error_code(response) == "invalid_request"
    assert "state" in response.text


async def test_review_body(world: ApiWorld) -> None:
    """GET /v1/reviews/{id} shows the requester's chain, the statement, the rule and the quorum."""
    review = await world.hold(ALICE_VIA_AGENTS, "DELETE FROM orders")
    async with world.client(world.token(BOB, ["dba"])) as http:
        body = (await http.get(f"/v1/reviews/{review.id}")).json()
    assert body["id"] == review.id
    assert (body["kind"], body["state"], body["connection"]) == ("statement", "pending", "pg-test")
    assert body["requester"]["chain"] == ["alice@example.com", "ci-runner", "sql-agent"]
    assert (body["statement"], body["rule"], body["risk"]) == (
        "DELETE FROM orders",
        "ddl-destroy",
        "high",
    )
    assert (body["quorum"], body["approvals"], body["decisions"]) == (1, 0, [])
    assert body["decided_by"] is None


VISIBLE = {
    "an approver": (BOB, ["dba"], ()),
    "an owner of the connection": ("carol@example.com", [], ()),
    "the requester": ("alice@example.com", ["eng"], ()),
    "the requester through another agent": ("alice@example.com", ["eng"], (Actor("notebook"),)),
    "an agent of the requester's chain": ("sql-agent", [], ()),
    "an auditor (security)": ("sec@example.com", ["security"], ()),
    "an auditor (auditors)": ("aud@example.com", ["auditors"], ()),
    "an admin": ("root@example.com", ["airlock-admins"], ()),
}

INVISIBLE = {
    "a random user": ("mallory@example.com", ["eng"], ()),
    "a user with no groups": ("nobody@example.com", [], ()),
    "someone else through the requester's agent": (
        "mallory@example.com",
        ["eng"],
        (Actor("ci-runner"),),
    ),
    "the owner of another connection": ("dave@example.com", [], ()),
}


async def test_who_sees_a_review(world: ApiWorld) -> None:
    """Approvers, owners, the requester's chain, auditors and admins see the review."""
    review = await world.hold(ALICE_VIA_AGENTS)
    for who, (subject, groups, actors) in VISIBLE.items():
        token = world.token(subject, groups, actors=actors)
        assert await ids(world, token) == {review.id}, who
        async with world.client(token) as http:
            response = await http.get(f"/v1/reviews/{review.id}")
        assert response.status_code == 200, who


async def test_others_see_nothing(world: ApiWorld) -> None:
    """Anyone else gets an empty list and a 404 (the review's existence is not revealed)."""
    review = await world.hold(ALICE_VIA_AGENTS)
    for who, (subject, groups, actors) in INVISIBLE.items():
        token = world.token(subject, groups, actors=actors)
        assert await ids(world, token) == set(), who
        async with world.client(token) as http:
            response = await http.get(f"/v1/reviews/{review.id}")
        assert response.status_code == 404, who
        assert error_code(response) == "not_found"


async def test_unknown_review(world: ApiWorld) -> None:
    """An unknown id is a 404 not_found."""
    async with world.client(world.token(BOB, ["dba"])) as http:
        response = await http.get("/v1/reviews/does-not-exist")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


async def test_requester_sees_only_own(world: ApiWorld) -> None:
    """A requester sees their own reviews, not a colleague's."""
    mine = await world.hold(ALICE)
    await world.hold(Identity("mallory@example.com", groups=frozenset({"eng"})))
    assert await ids(world, world.token("alice@example.com", ["eng"])) == {mine.id}


async def test_limit_counts_visible_reviews(world: ApiWorld) -> None:
    """?limit= counts what the caller may see: an owner finds theirs behind newer ones."""
    mine = await world.hold(connection="pg-test")
    for n in range(5):
        await world.hold(connection="pg-quorum", statement=f"DROP TABLE t{n}")
    assert await ids(world, world.token("carol@example.com"), limit="1") == {mine.id}
    async with world.client(world.token("alice@example.com", ["eng"])) as http:
        response = await http.get("/v1/access-requests", params={"limit": 1})
    assert response.json() == []
