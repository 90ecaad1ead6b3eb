"""The weekly digest end to end: the digest job, the outbox, the Slack delivery (fake Slack, whose
validator enforces Slack's limits), signed Keep / Revoke clicks through /slack/events and the
HTTP API, the store as the judge, and the message redrawn in place."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from approvals import Delegation, new_id
from approvals.access_review import group_key
from bot.cards.digest import (
    KEEP_ACTION_ID,
    KEEP_ALL_ACTION_ID,
    REVOKE_ACTION_ID,
    REVOKE_UNUSED_ACTION_ID,
    parse_button_value,
)
from gateway.cli.compose import scheduler_for
from store import ALL_TOPICS, AccessReviews
from tests.bot.chatkit import chat_gateway, interaction_body, post_signed, wait_for
from tests.harness import RunningGateway, pg_connection
from tests.support.fake_slack import FakeSlack

CAROL, BOB = "U0CAROL", "U0BOB"
DAY = timedelta(days=1)


def _connection(name: str, access: str) -> dict[str, Any]:
    """carol owns it (no owners' channel: her digest comes as a DM)."""
    return pg_connection(
        "postgres", name=name, access=access, max_grant="30d",
        owners={"identities": ["carol@example.com"]},
        approvers={"groups": ["dba"], "channel": "#dba-oncall", "quorum": 1},
    )  # fmt: skip


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    """carol owns pg-a (standing, group eng), pg-b and pg-c (on request); 40 grants between
    them, every fourth unused for 45 days; alice holds grant 0."""
    conns = [_connection("pg-a", "standing"), _connection("pg-b", "request"),
             _connection("pg-c", "request")]  # fmt: skip
    async with chat_gateway(tmp_path, monkeypatch, fake, connections=conns) as running:
        now = running.runtime.service.clock.now()
        async with running.runtime.repository.transaction() as tx:
            for i in range(40):
                subject = "alice@example.com" if i == 0 else f"user{i}@example.com"
                await tx.add_delegation(
                    Delegation(
                        id=f"grant-{i:02d}-{new_id()}", subject=subject,
                        connection=("pg-a", "pg-b", "pg-c")[i % 3], role="rw",
                        granted_by="bob@example.com", reason="INC-42",
                        created_at=now - 50 * DAY, expires_at=now + 10 * DAY,
                        last_used_at=now - (45 if i % 4 == 0 else 1) * DAY, use_count=i,
                    )
                )  # fmt: skip
        yield running


def _pages(fake: FakeSlack) -> list[tuple[str, str, dict[str, Any]]]:
    dm = fake.channel_id(CAROL)
    return [
        (c, ts, m)
        for (c, ts), m in sorted(fake.snapshot().items(), key=lambda kv: kv[0][1])
        if c == dm and "Access review" in m.get("text", "")
    ]


Page = tuple[str, str, dict[str, Any]]


def _button(
    pages: list[Page], action: str, key: str | None = None
) -> tuple[tuple[str, str], dict[str, Any]]:
    """(page ref, button) of the first button ``action`` (on line ``key``)."""
    for channel, ts, message in pages:
        for block in message["blocks"]:
            for element in block.get("elements", []):
                action_id = str(element.get("action_id", ""))
                if action_id.split(":", maxsplit=1)[0] != action:
                    continue
                if key is None or parse_button_value(element["value"])[1] == key:
                    return (channel, ts), element
    raise AssertionError(f"no {action} button for {key}")


async def _click(
    gw: RunningGateway, fake: FakeSlack, user: str, ref: tuple[str, str], button: dict[str, Any]
) -> None:
    channel, ts = ref
    payload = {
        "type": "block_actions", "team": {"id": "T0AIRLOCK"},
        "user": {"id": user, "team_id": "T0AIRLOCK"}, "api_app_id": "A0AIRLOCK",
        "trigger_id": "0.t", "container": {"type": "message", "message_ts": ts,
                                          "channel_id": channel},
        "channel": {"id": channel}, "message": {"ts": ts},
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b",
                     "value": button["value"], "action_ts": str(time.time())}],
    }  # fmt: skip
    assert (await post_signed(gw, fake, interaction_body(payload))).status_code == 200


async def _digest(gw: RunningGateway, fake: FakeSlack) -> list[tuple[str, str, dict[str, Any]]]:
    run = await scheduler_for(gw.runtime).run_job("digest")
    assert run.summary.startswith("1 digests"), run.summary
    await wait_for(lambda: len(_pages(fake)) >= 2, what="the digest's pages")
    await wait_for(lambda: "page 3 of 3" in str(_pages(fake)[-1][2]) or len(_pages(fake)) == 2)
    return _pages(fake)


async def test_a_digest_of_forty_grants_fits_slack_and_is_sent_once(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """carol gets one digest as a few DM pages (all accepted by the validating fake), listing
    all 40 grants and the standing group; running the week's digest again sends nothing."""
    pages = await _digest(gw, fake)
    text = str([m for _, _, m in pages])
    assert all(f"user{i}@example.com" in text for i in range(1, 40))
    assert "Standing group" in text and text.count("⚠️") >= 10
    again = await scheduler_for(gw.runtime).run_job("digest")
    assert again.summary.startswith("0 digests")
    assert len(_pages(fake)) == len(pages)


async def test_keep_and_revoke_are_recorded_and_redraw_the_digest(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """carol's Keep recertifies a grant (recertified_at, audit); her Revoke on alice's grant
    revokes it (delegation.revoked: its sessions end) and both lines are redrawn in place."""
    pages = await _digest(gw, fake)
    repo = gw.runtime.repository
    grants = {d.subject: d for d in await repo.list_delegations()}
    kept, gone = grants["user5@example.com"], grants["alice@example.com"]
    async with repo.bus.subscribe(ALL_TOPICS) as events:
        ref, keep = _button(pages, KEEP_ACTION_ID, kept.id)
        await _click(gw, fake, CAROL, ref, keep)
        await wait_for(
            lambda: "Kept by carol@example.com" in str(fake.messages[ref]), what="redraw"
        )
        ref, revoke = _button(pages, REVOKE_ACTION_ID, gone.id)
        await _click(gw, fake, CAROL, ref, revoke)
        await wait_for(lambda: "Revoked by carol@example.com" in str(fake.messages[ref]))
        while (event := await events.get()).topic != "delegation.revoked":
            pass
    assert event.key == gone.id and event.payload["cause"] == "review"
    after = {d.id: d for d in await repo.list_delegations()}
    assert after[kept.id].recertified_at is not None and after[gone.id].revoked_at is not None
    actions = [a.action for a in await repo.list_audit(limit=1000)]
    assert "delegation.recertified" in actions and "delegation.revoked" in actions
    await wait_for(
        lambda: [m for (c, _), m in fake.snapshot().items() if c == fake.channel_id("U0ALICE")],
        what="alice's DM about her revoked grant",
    )


async def test_bulk_buttons_and_a_stranger_s_click(gw: RunningGateway, fake: FakeSlack) -> None:
    """bob (no owner) is refused privately; Revoke all unused ends the 10 unused grants, Keep
    all keeps the rest and the standing group; then the digest says every line is decided."""
    pages = await _digest(gw, fake)
    ref, keep_all = _button(pages, KEEP_ALL_ACTION_ID)
    await _click(gw, fake, BOB, ref, keep_all)
    refusal = await wait_for(
        lambda: [m for (c, _), m in fake.snapshot().items() if c == fake.channel_id(BOB)],
        what="bob's private refusal",
    )
    assert "owners" in str(refusal)
    ref, revoke_unused = _button(pages, REVOKE_UNUSED_ACTION_ID)
    await _click(gw, fake, CAROL, ref, revoke_unused)
    repo = gw.runtime.repository
    now = gw.runtime.service.clock.now()

    async def live() -> int:
        return len(await repo.list_delegations(active_at=now))

    await wait_for(lambda: "Revoke all unused" not in str(fake.messages[ref]), what="redraw")
    assert await live() == 30
    await _click(gw, fake, CAROL, ref, keep_all)
    await wait_for(lambda: "Every line is decided" in str(fake.messages[ref]), what="redraw")
    history = await AccessReviews(gw.runtime.database).history()
    assert group_key("pg-a", "eng") in [e.key for e in history]
