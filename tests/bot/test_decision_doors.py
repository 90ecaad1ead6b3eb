"""One decision path: every door that records a decision (the API, the console chat, the chat
bot's click path that Slack and the dev console use, the CLI) refuses a revoked approver and an
approver acting through an agent, changes nothing when it does, and the held statement runs
only once a real approver decides. Real gateway (uvicorn), real psql, real PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from approvals import IdentityKind, ReviewState
from bot.api import AirlockApi
from bot.errors import ApiRefused
from tests.bot.chatkit import Psql, chat_gateway, connection, table_database, wait_until
from tests.conftest import PG_ADMIN_DSN
from tests.gateway.cli.support import airlock_in_thread
from tests.harness import RunningGateway
from tests.identity.support import ADMIN, client_credentials, create_account, exchange

BOB, DAVE = "bob@example.com", "dave@example.com"


@dataclass
class Held:
    gw: RunningGateway
    psql: Psql
    review_id: str
    database: str

    async def rows(self) -> int:
        """How many rows ``t`` holds upstream (read directly, not through the gateway)."""
        dsn = make_url(PG_ADMIN_DSN).set(database=self.database)
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM t"))
        finally:
            await conn.close()

    async def unchanged(self) -> None:
        """The review is still pending with no decision and no audit event beyond its
        opening; psql still waits and the three rows are still there."""
        review = await self.gw.runtime.repository.get_review(self.review_id)
        assert review is not None
        assert (review.state, review.decisions) == (ReviewState.PENDING, ())
        events = await self.gw.runtime.repository.list_audit(target=self.review_id)
        assert [e.action for e in events] == ["statement.held"]
        assert self.psql.running() and await self.rows() == 3


@pytest.fixture
async def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Held]:
    """A console chat in token mode in front of ``t``; alice's TRUNCATE t is held."""
    async with (
        table_database() as target,
        chat_gateway(
            tmp_path, monkeypatch, None, connections=[connection(target)], dev_mode=False
        ) as gw,
    ):
        psql = await Psql(gw, gw.token("alice@example.com", ["eng"]), "TRUNCATE t").start()

        async def pending() -> list[str]:
            found = await gw.runtime.repository.list_reviews(state=ReviewState.PENDING)
            return [r.id for r in found]

        (review_id,) = await wait_until(pending, what="the held statement")
        yield Held(gw, psql, review_id, target)


def _bot(gw: RunningGateway) -> AirlockApi:
    """The chat bot's own API client, as Slack clicks and the dev console use it."""
    token = gw.token("airlock-bot", ["airlock-bots"], kind=IdentityKind.SERVICE)
    return AirlockApi(gw.api_url, lambda: token)


async def _console(gw: RunningGateway, token: str, review_id: str) -> httpx.Response:
    """Approve on the console chat page, signed in with ``token``."""
    async with httpx.AsyncClient(
        base_url=gw.api_url, timeout=10, headers={"Origin": gw.api_url}
    ) as browser:
        page = (await browser.get("/chat")).text
        match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
        assert match is not None
        headers = {"Authorization": f"Bearer {token}", "X-CSRF-Token": match.group(1)}
        body = {"review_id": review_id, "action": "approve"}
        return await browser.post("/chat/api/decisions", json=body, headers=headers)


async def _api(gw: RunningGateway, token: str, review_id: str) -> httpx.Response:
    async with gw.client(token) as http:
        return await http.post(f"/v1/reviews/{review_id}/decisions", json={"outcome": "approve"})


async def _revoke(gw: RunningGateway, subject: str) -> None:
    async with gw.client(gw.token(*ADMIN)) as http:
        answer = await http.post(
            "/v1/revocations/subjects", json={"subject": subject, "reason": "left the team"}
        )
    assert answer.status_code == 201, answer.text


async def _approve_as_dave(held: Held) -> None:
    """A real approver decides through the bot: the statement runs and the rows are gone."""
    bot = _bot(held.gw)
    try:
        await bot.decide(held.review_id, "approve", None, approver=DAVE)
    finally:
        await bot.close()
    code, out, err = await held.psql.result()
    assert code == 0 and "TRUNCATE TABLE" in out, err
    assert await held.rows() == 0


async def test_revoked_approver_is_refused_at_every_door(
    held: Held, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once bob is revoked his own token is refused by the API (401), the console chat (401)
    and the CLI (exit 2); the bot naming him, in any spelling, is refused with `revoked`.
    Nothing changes; dave then approves and the TRUNCATE runs."""
    gw = held.gw
    token = gw.token(BOB, ["dba"])
    await _revoke(gw, "Bob@Example.com")
    assert (await _api(gw, token, held.review_id)).status_code == 401
    console = await _console(gw, token, held.review_id)
    assert (console.status_code, console.json()["error"]["code"]) == (401, "unauthenticated")
    bot = _bot(gw)
    try:
        for spelt in (BOB, "BOB@example.COM"):
            with pytest.raises(ApiRefused) as refused:
                await bot.decide(held.review_id, "approve", None, approver=spelt)
            assert (refused.value.status, refused.value.code) == (403, "revoked")
    finally:
        await bot.close()
    monkeypatch.setenv("AIRLOCK_URL", gw.api_url)
    monkeypatch.setenv("AIRLOCK_TOKEN", token)
    cli = await airlock_in_thread(capsys, "reviews", "approve", held.review_id)
    assert cli.code == 2 and "revoked" in cli.err
    await held.unchanged()
    await _approve_as_dave(held)


async def _agent_for_bob(gw: RunningGateway) -> str:
    """bob's token exchanged (RFC 8693, /oauth/token) with an agent's own token."""
    client_id, secret = await create_account(gw, "approve-agent", ["eng"])
    actor = (await client_credentials(gw, client_id, secret)).json()["access_token"]
    answer = await exchange(gw, gw.token(BOB, ["dba", "eng"]), actor)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def test_an_approver_acting_through_an_agent_is_refused_at_every_door(
    held: Held, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob → approve-agent (a real exchanged token) cannot decide through the API, the console
    chat or the CLI (403 forbidden), and sees no card of alice's; nothing changes."""
    gw = held.gw
    token = await _agent_for_bob(gw)
    api = await _api(gw, token, held.review_id)
    assert (api.status_code, api.json()["error"]["code"]) == (403, "forbidden")
    console = await _console(gw, token, held.review_id)
    assert (console.status_code, console.json()["error"]["code"]) == (403, "forbidden")
    async with httpx.AsyncClient(base_url=gw.api_url, timeout=10) as browser:
        cards = await browser.get("/chat/cards", headers={"Authorization": f"Bearer {token}"})
    assert cards.status_code == 200 and cards.json()["cards"] == []
    monkeypatch.setenv("AIRLOCK_URL", gw.api_url)
    monkeypatch.setenv("AIRLOCK_TOKEN", token)
    cli = await airlock_in_thread(capsys, "reviews", "approve", held.review_id)
    assert cli.code == 2 and "agent" in cli.err
    await held.unchanged()
    await _approve_as_dave(held)


async def _ready(stream: httpx.Response) -> AsyncIterator[str]:
    """The lines of an open /chat/events stream, past its ``ready`` event."""
    lines = stream.aiter_lines()
    while (await anext(lines)) != "event: ready":
        pass
    return lines


async def _first_card(lines: AsyncIterator[str]) -> str:
    """The review id of the next ``card`` event."""
    while (await anext(lines)) != "event: card":
        pass
    data: dict[str, str] = json.loads((await anext(lines)).removeprefix("data: "))
    return data["review_id"]


async def _ask(gw: RunningGateway, who: str, reason: str) -> str:
    async with gw.client(gw.token(who, ["eng"])) as http:
        body = {"connection": "pg-test", "duration": "1h", "reason": reason}
        answer = await http.post("/v1/access-requests", json=body)
    assert answer.status_code == 201, answer.text
    review_id: str = answer.json()["id"]
    return review_id


async def test_console_events_need_a_signed_in_person_and_show_only_their_reviews(
    held: Held,
) -> None:
    """/chat/events without a token, or with a revoked one, is 401; an auditor's stream carries
    alice's new request, mallory's (neither requester, approver nor owner) skips it and carries
    her own next one."""
    gw = held.gw
    auditor = {"Authorization": f"Bearer {gw.token('sec@example.com', ['auditors'])}"}
    mallory = {"Authorization": f"Bearer {gw.token('mallory@example.com', ['eng'])}"}
    revoked = gw.token("ex@example.com", ["auditors"])
    await _revoke(gw, "ex@example.com")
    async with httpx.AsyncClient(base_url=gw.api_url, timeout=10) as browser:
        assert (await browser.get("/chat/events")).status_code == 401
        gone = await browser.get("/chat/events", headers={"Authorization": f"Bearer {revoked}"})
        assert gone.status_code == 401
        async with (
            browser.stream("GET", "/chat/events", headers=auditor) as seen_by_auditor,
            browser.stream("GET", "/chat/events", headers=mallory) as seen_by_mallory,
        ):
            auditor_lines = await _ready(seen_by_auditor)
            mallory_lines = await _ready(seen_by_mallory)
            alices = await _ask(gw, "alice@example.com", "INC-7")
            assert await _first_card(auditor_lines) == alices
            mallorys = await _ask(gw, "mallory@example.com", "INC-8")
            assert await _first_card(mallory_lines) == mallorys


async def test_a_console_stream_ends_when_its_person_is_revoked(held: Held) -> None:
    """bob's open /chat/events stream ends at the next event after bob is revoked, without
    carrying that event's card."""
    gw = held.gw
    bob = {"Authorization": f"Bearer {gw.token(BOB, ['dba'])}"}
    async with (
        httpx.AsyncClient(base_url=gw.api_url, timeout=10) as browser,
        browser.stream("GET", "/chat/events", headers=bob) as stream,
    ):
        lines = await _ready(stream)
        await _revoke(gw, BOB)
        await _ask(gw, "alice@example.com", "INC-9")
        rest = [line async for line in lines]
    assert not any(line.startswith("event: card") for line in rest), rest
