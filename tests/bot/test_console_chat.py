"""The console chat at /chat: the same cards, live over server-sent events, with working
Approve / Deny (form and JSON), a person picker in dev mode, a token login otherwise, and CSRF
defences on every POST."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from approvals import ReviewState
from tests.bot.chatkit import Psql, chat_gateway, connection, table_database, wait_until
from tests.harness import RunningGateway

BOB = "bob@example.com"


@pytest.fixture
async def held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[RunningGateway, Psql]]:
    """A console-chat gateway in front of table t, with psql's TRUNCATE t held."""
    async with (
        table_database() as target,
        chat_gateway(tmp_path, monkeypatch, None, connections=[connection(target)]) as gw,
    ):
        psql = await Psql(gw, gw.token("alice@example.com", ["eng"]), "TRUNCATE t").start()

        async def pending() -> bool:
            return bool(await gw.runtime.repository.list_reviews(state=ReviewState.PENDING))

        await wait_until(pending, what="the held statement")
        yield gw, psql


def _browser(gw: RunningGateway) -> httpx.AsyncClient:
    """A same-origin browser: keeps cookies and sends Origin on its POSTs."""
    return httpx.AsyncClient(base_url=gw.api_url, timeout=10, headers={"Origin": gw.api_url})


def _csrf(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert match is not None
    return match.group(1)


async def _review_id(gw: RunningGateway) -> str:
    (review,) = await gw.runtime.repository.list_reviews(state=ReviewState.PENDING)
    return review.id


async def test_chat_page_lists_the_held_card_and_its_approve_form_works(
    held: tuple[RunningGateway, Psql],
) -> None:
    """GET /chat shows the held TRUNCATE with Approve / Deny; posting the card's form as bob
    approves it and psql's statement completes."""
    gw, psql = held
    review_id = await _review_id(gw)
    async with _browser(gw) as browser:
        page = (await browser.get("/chat", params={"as": BOB})).text
        assert f'data-review-id="{review_id}"' in page and "TRUNCATE t" in page
        assert 'value="approve"' in page and 'value="deny"' in page
        assert f'<option value="{BOB}" selected>' in page
        form = {"review_id": review_id, "action": "approve", "csrf_token": _csrf(page)}
        answer = await browser.post("/chat/decisions", data=form)
    assert answer.status_code == 303 and "approved" in answer.headers["location"]
    code, out, err = await psql.result()
    assert code == 0 and "TRUNCATE TABLE" in out, err


async def test_json_deny_with_reason_fails_the_statement_with_42501(
    held: tuple[RunningGateway, Psql],
) -> None:
    """The page's JSON endpoint denies as the picked person; psql shows 42501 and the reason."""
    gw, psql = held
    review_id = await _review_id(gw)
    async with _browser(gw) as browser:
        csrf = _csrf((await browser.get("/chat")).text)
        body = {"review_id": review_id, "action": "deny", "reason": "use the replica", "as": BOB}
        answer = await browser.post(
            "/chat/api/decisions", json=body, headers={"X-CSRF-Token": csrf}
        )
    assert answer.status_code == 200 and answer.json()["state"] == "denied"
    code, _, err = await psql.result()
    assert code != 0 and "42501" in err and "use the replica" in err


async def test_cross_site_and_tokenless_posts_change_nothing(
    held: tuple[RunningGateway, Psql],
) -> None:
    """A POST from another origin, or without the page's CSRF token, is refused with 403."""
    gw, psql = held
    review_id = await _review_id(gw)
    async with _browser(gw) as browser:
        csrf = _csrf((await browser.get("/chat", params={"as": BOB})).text)
        form = {"review_id": review_id, "action": "approve", "csrf_token": csrf}
        evil = await browser.post(
            "/chat/decisions", data=form, headers={"Origin": "https://evil.example"}
        )
        bare = await browser.post("/chat/decisions", data={**form, "csrf_token": "0" * 64})
    assert (evil.status_code, evil.json()["error"]["code"]) == (403, "csrf_origin")
    assert (bare.status_code, bare.json()["error"]["code"]) == (403, "csrf_token")
    review = await gw.runtime.repository.get_review(review_id)
    assert review is not None and review.state is ReviewState.PENDING and psql.running()


async def test_requester_cannot_approve_their_own_statement(
    held: tuple[RunningGateway, Psql],
) -> None:
    """Acting as alice (the requester) the API refuses with self_approval; nothing changes."""
    gw, psql = held
    review_id = await _review_id(gw)
    async with _browser(gw) as browser:
        csrf = _csrf((await browser.get("/chat")).text)
        body = {"review_id": review_id, "action": "approve", "as": "alice@example.com"}
        answer = await browser.post(
            "/chat/api/decisions", json=body, headers={"X-CSRF-Token": csrf}
        )
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "self_approval"
    assert psql.running()


async def test_server_sent_events_deliver_a_new_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`airlock up` prints the console chat's URL; the /chat/events stream of a picked person
    (bob, an approver) receives a `card` event with the card of a new request."""
    async with chat_gateway(tmp_path, monkeypatch, None) as gw, _browser(gw) as browser:
        assert f"console chat on {gw.api_url}/chat" in capsys.readouterr().out
        await browser.get("/chat", params={"as": BOB})
        async with browser.stream("GET", "/chat/events") as stream:
            lines = stream.aiter_lines()
            while (await anext(lines)) != "event: ready":
                pass
            async with gw.client(gw.token("alice@example.com", ["eng"])) as api:
                body = {"connection": "pg-test", "duration": "1h", "reason": "INC-5"}
                created = (await api.post("/v1/access-requests", json=body)).json()
            while (await anext(lines)) != "event: card":
                pass
            data = json.loads((await anext(lines)).removeprefix("data: "))
    assert data["review_id"] == created["id"] and data["state"] == "pending"
    assert f'data-review-id="{created["id"]}"' in data["html"] and "INC-5" in data["html"]


async def test_token_mode_needs_a_token_and_decides_as_its_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without dev mode the cards need a Bearer token, and a decision is recorded for the
    token's holder; the page offers a token login instead of the picker."""
    async with (
        chat_gateway(tmp_path, monkeypatch, None, dev_mode=False) as gw,
        _browser(gw) as browser,
    ):
        async with gw.client(gw.token("alice@example.com", ["eng"])) as api:
            body = {"connection": "pg-test", "duration": "1h", "reason": "INC-6"}
            created = (await api.post("/v1/access-requests", json=body)).json()
        page = (await browser.get("/chat")).text
        assert 'id="login"' in page and "INC-6" not in page
        assert (await browser.get("/chat/cards")).status_code == 401
        bearer = {"Authorization": f"Bearer {gw.token(BOB, ['dba'])}"}
        cards = (await browser.get("/chat/cards", headers=bearer)).json()["cards"]
        assert [c["review_id"] for c in cards] == [created["id"]]
        headers = {**bearer, "X-CSRF-Token": _csrf(page)}
        decision = {"review_id": created["id"], "action": "approve"}
        answer = await browser.post("/chat/api/decisions", json=decision, headers=headers)
        assert answer.status_code == 200 and answer.json()["state"] == "approved"
    review = await gw.runtime.repository.get_review(created["id"])
    assert review is not None and review.decisions[0].approver.subject == BOB
