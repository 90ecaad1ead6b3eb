"""``/v1/access-requests`` and ``/v1/delegations``: ask, approve, hold, revoke."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from approvals import AccessNotAllowed, Actor, IdentityKind
from tests.gateway.api.world import ALICE, ApiWorld, error_code

BOB = "bob@example.com"
REQUEST = {"connection": "pg-req", "duration": "1h", "reason": "INC-42"}


async def ask(world: ApiWorld, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    async with world.client(token or world.token("alice@example.com", ["eng"])) as http:
        return await http.post("/v1/access-requests", json=body)


async def granted(world: ApiWorld) -> str:
    """Alice asks for pg-req, Bob approves; the delegation's id."""
    review = (await ask(world, REQUEST)).json()
    async with world.client(world.token(BOB, ["dba"])) as http:
        decided = await http.post(
            f"/v1/reviews/{review['id']}/decisions", json={"outcome": "approve"}
        )
    assert decided.json()["state"] == "approved", decided.text
    (delegation,) = await world.runtime.repository.list_delegations(subject="alice@example.com")
    return delegation.id


async def delegations(world: ApiWorld, token: str, **params: str) -> list[dict[str, Any]]:
    async with world.client(token) as http:
        response = await http.get("/v1/delegations", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def revoke(world: ApiWorld, token: str, delegation_id: str) -> httpx.Response:
    async with world.client(token) as http:
        return await http.post(
            f"/v1/delegations/{delegation_id}/revoke", json={"reason": "no longer needed"}
        )


async def test_request_opens_a_pending_review(world: ApiWorld) -> None:
    """POST creates a pending access review (201) that approvers and the requester can list."""
    response = await ask(world, REQUEST)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["state"], body["connection"]) == ("access", "pending", "pg-req")
    assert body["access"] == {"role": None, "duration_s": 3600, "reason": "INC-42"}
    for token in (world.token(BOB, ["dba"]), world.token("alice@example.com", ["eng"])):
        async with world.client(token) as http:
            listed = (await http.get("/v1/access-requests")).json()
        assert [r["id"] for r in listed] == [body["id"]]
    async with world.client(world.token("mallory@example.com", ["eng"])) as http:
        assert (await http.get("/v1/access-requests")).json() == []


async def test_approval_creates_a_delegation(world: ApiWorld) -> None:
    """Approving the request grants a delegation the holder sees and can connect with."""
    delegation_id = await granted(world)
    (held,) = await delegations(world, world.token("alice@example.com", ["eng"]))
    assert held["id"] == delegation_id
    assert (held["subject"], held["connection"], held["granted_by"]) == (
        "alice@example.com",
        "pg-req",
        BOB,
    )
    assert held["active"] is True
    assert held["reason"] == "INC-42"
    lasts = _seconds(held["expires_at"]) - _seconds(held["created_at"])
    assert lasts == timedelta(hours=1).total_seconds()
    assert await world.runtime.service.authorize_connect(ALICE, "pg-req") is not None


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def test_who_sees_a_delegation(world: ApiWorld) -> None:
    """The holder, the connection's owners and auditors see it; others do not."""
    delegation_id = await granted(world)
    for subject, groups in [("dave@example.com", []), ("sec@example.com", ["security"])]:
        found = await delegations(world, world.token(subject, groups))
        assert [d["id"] for d in found] == [delegation_id], subject
    for subject, groups in [("mallory@example.com", ["eng"]), (BOB, ["dba"])]:
        assert await delegations(world, world.token(subject, groups)) == [], subject


async def test_denied_request_grants_nothing(world: ApiWorld) -> None:
    """A denied access request leaves no delegation."""
    review = (await ask(world, REQUEST)).json()
    async with world.client(world.token(BOB, ["dba"])) as http:
        await http.post(
            f"/v1/reviews/{review['id']}/decisions", json={"outcome": "deny", "reason": "no"}
        )
    assert await delegations(world, world.token("alice@example.com", ["eng"])) == []


async def test_longer_than_max_grant(world: ApiWorld) -> None:
    """Asking for more than the connection's max_grant is 403 grant_too_long, saying the limit."""
    response = await ask(world, {**REQUEST, "duration": "3h"})
    assert (response.status_code, error_code(response)) == (403, "grant_too_long")
    assert "2h" in response.json()["error"]["message"]


@pytest.mark.parametrize("duration", ["forever", "2 hours", "", "0s", "-1h"])
async def test_bad_duration(world: ApiWorld, duration: str) -> None:
    """A duration that is not a positive duration is 422 invalid_request."""
    response = await ask(world, {**REQUEST, "duration": duration})
    assert (response.status_code, error_code(response)) == (422, "invalid_request")


async def test_reason_is_required(world: ApiWorld) -> None:
    """An access request without a reason is 422 (empty) or 403 reason_required (blank)."""
    missing = await ask(world, {"connection": "pg-req", "duration": "1h"})
    assert (missing.status_code, error_code(missing)) == (422, "invalid_request")
    blank = await ask(world, {**REQUEST, "reason": "   "})
    assert (blank.status_code, error_code(blank)) == (403, "reason_required")


async def test_unknown_connection(world: ApiWorld) -> None:
    """Access to a connection that is not configured is 404 not_found."""
    response = await ask(world, {**REQUEST, "connection": "pg-nope"})
    assert (response.status_code, error_code(response)) == (404, "not_found")


async def test_outside_allow_groups(world: ApiWorld) -> None:
    """Someone in none of allow_groups may not ask: 403 forbidden."""
    response = await ask(world, REQUEST, world.token("guest@example.com", ["contractors"]))
    assert (response.status_code, error_code(response)) == (403, "forbidden")


@pytest.mark.parametrize(
    ("subject", "groups", "actors"),
    [
        ("alice@example.com", ["eng"], ()),
        ("dave@example.com", [], ()),
        ("root@example.com", ["airlock-admins"], ()),
    ],
    ids=["holder", "owner", "admin"],
)
async def test_revoke(
    world: ApiWorld, subject: str, groups: list[str], actors: tuple[Actor, ...]
) -> None:
    """The holder, an owner of the connection or an admin revokes; access ends at once."""
    delegation_id = await granted(world)
    response = await revoke(world, world.token(subject, groups, actors=actors), delegation_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["active"], body["revoked_by"], body["revoke_reason"]) == (
        False,
        subject,
        "no longer needed",
    )
    with pytest.raises(AccessNotAllowed):
        await world.runtime.service.authorize_connect(ALICE, "pg-req")
    holder = world.token("alice@example.com", ["eng"])
    assert await delegations(world, holder, active="true") == []
    assert len(await delegations(world, holder)) == 1


async def test_revoke_twice(world: ApiWorld) -> None:
    """Revoking a revoked delegation is 409."""
    delegation_id = await granted(world)
    token = world.token("alice@example.com", ["eng"])
    assert (await revoke(world, token, delegation_id)).status_code == 200
    again = await revoke(world, token, delegation_id)
    assert again.status_code == 409
    assert error_code(again) == "invalid_transition"


async def test_others_cannot_revoke(world: ApiWorld) -> None:
    """Anyone else (a colleague, an approver, an auditor, an admin through an agent) is 403."""
    delegation_id = await granted(world)
    others = [
        world.token("mallory@example.com", ["eng"]),
        world.token(BOB, ["dba"]),
        world.token("sec@example.com", ["security"]),
        world.token("root@example.com", ["airlock-admins"], actors=(Actor("agent"),)),
    ]
    for token in others:
        response = await revoke(world, token, delegation_id)
        assert (response.status_code, error_code(response)) == (403, "forbidden")
    assert await world.runtime.service.authorize_connect(ALICE, "pg-req") is not None


async def test_revoke_unknown_or_without_reason(world: ApiWorld) -> None:
    """An unknown delegation is 404; a revoke without a reason is 422."""
    token = world.token("root@example.com", ["airlock-admins"])
    assert (await revoke(world, token, "nope")).status_code == 404
    delegation_id = await granted(world)
    async with world.client(token) as http:
        response = await http.post(f"/v1/delegations/{delegation_id}/revoke", json={})
    assert (response.status_code, error_code(response)) == (422, "invalid_request")


def bot(world: ApiWorld) -> str:
    return world.token("airlock-bot", ["airlock-bots"], kind=IdentityKind.SERVICE)


async def test_bot_asks_for_a_person(world: ApiWorld) -> None:
    """The chat bot names the person asking in ``requester``; the review is theirs, with the
    groups [[people]] gives them; anyone else naming a requester is 403."""
    response = await ask(world, {**REQUEST, "requester": "mallory@example.com"}, bot(world))
    assert response.status_code == 201, response.text
    assert response.json()["requester"]["subject"] == "mallory@example.com"
    refused = await ask(world, {**REQUEST, "requester": "mallory@example.com"})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")


async def test_bot_revokes_for_a_person(world: ApiWorld) -> None:
    """The bot revokes for the holder (``revoker``); for a colleague of theirs it is 403."""
    delegation_id = await granted(world)
    async with world.client(bot(world)) as http:
        url = f"/v1/delegations/{delegation_id}/revoke"
        refused = await http.post(url, json={"reason": "x", "revoker": "mallory@example.com"})
        assert (refused.status_code, error_code(refused)) == (403, "forbidden")
        done = await http.post(url, json={"reason": "x", "revoker": "alice@example.com"})
    assert done.status_code == 200, done.text
    assert done.json()["revoked_by"] == "alice@example.com"
