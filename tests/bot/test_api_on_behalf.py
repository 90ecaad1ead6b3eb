"""The gateway API fields the bot acts through (`approver`, `requester`, `revoker`) are for
callers in [api] bot_groups only, and name people, not services."""

from __future__ import annotations

from pathlib import Path

import pytest

from approvals import IdentityKind
from tests.bot.chatkit import chat_gateway, connection

ASK = {"connection": "pg-test", "duration": "1h", "reason": "INC-1"}


async def test_only_the_bot_may_ask_for_someone_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person naming a `requester` is refused; the bot's service token may, and the review is
    the requester's; a `requester` that is not an e-mail is refused."""
    async with chat_gateway(tmp_path, monkeypatch, None, connections=[connection()]) as gw:
        bot = gw.token("airlock-bot", ["airlock-bots"], kind=IdentityKind.SERVICE)
        async with gw.client(gw.token("carol@example.com", ["eng"])) as carol:
            refused = await carol.post(
                "/v1/access-requests", json={**ASK, "requester": "alice@example.com"}
            )
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        async with gw.client(bot) as api:
            made = await api.post(
                "/v1/access-requests", json={**ASK, "requester": "alice@example.com"}
            )
            assert (
                made.status_code == 201
                and made.json()["requester"]["subject"] == "alice@example.com"
            )
            nobody = await api.post("/v1/access-requests", json={**ASK, "requester": "ci-runner"})
            assert (nobody.status_code, nobody.json()["error"]["code"]) == (403, "unknown_person")
            own = await api.post("/v1/access-requests", json=ASK)
            assert own.status_code == 403  # the bot itself is in no group that may ask


async def test_only_the_bot_may_revoke_for_someone_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `revoker` from a person is refused; from the bot it revokes as that person, whose own
    rights (holder, owner, admin) then decide."""
    async with chat_gateway(tmp_path, monkeypatch, None, connections=[connection()]) as gw:
        bot = gw.token("airlock-bot", ["airlock-bots"], kind=IdentityKind.SERVICE)
        async with gw.client(bot) as api:
            made = (
                await api.post(
                    "/v1/access-requests", json={**ASK, "requester": "alice@example.com"}
                )
            ).json()
            decided = await api.post(
                f"/v1/reviews/{made['id']}/decisions",
                json={"outcome": "approve", "approver": "bob@example.com"},
            )
            assert decided.status_code == 200
            (grant,) = await gw.runtime.repository.list_delegations(subject="alice@example.com")
            url = f"/v1/delegations/{grant.id}/revoke"
            not_theirs = await api.post(url, json={"reason": "x", "revoker": "bob@example.com"})
            assert not_theirs.status_code == 403
        async with gw.client(gw.token("alice@example.com", ["eng"])) as alice:
            refused = await alice.post(url, json={"reason": "x", "revoker": "carol@example.com"})
            assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        async with gw.client(bot) as api:
            owner = await api.post(url, json={"reason": "audit", "revoker": "carol@example.com"})
            assert owner.status_code == 200 and owner.json()["revoked_by"] == "carol@example.com"
