"""The scheduler's notices in Slack: the holder's "ends soon" DM whose Extend button opens a new
access request, and the owners' and holder's messages when an unused grant is revoked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from approvals import Delegation, ReviewKind, new_id
from bot.cards.notices import EXTEND_ACTION_ID
from gateway.cli.compose import scheduler_for
from tests.bot.chatkit import (
    cards_in,
    chat_gateway,
    connection,
    interaction_body,
    post_signed,
    wait_for,
)
from tests.harness import RunningGateway
from tests.support.fake_slack import FakeSlack

DAY = timedelta(days=1)


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeSlack
) -> AsyncIterator[RunningGateway]:
    conn = connection(
        access="request",
        max_grant="30d",
        idle_revoke_after="14d",
        roles={"read_only": {"username": "postgres"}},
    )
    async with chat_gateway(tmp_path, monkeypatch, fake, connections=[conn]) as running:
        yield running


async def _grant(gw: RunningGateway, age: timedelta, lasts: timedelta) -> Delegation:
    now = gw.runtime.service.clock.now()
    grant = Delegation(
        new_id(), "alice@example.com", "pg-test", "read_only", "bob@example.com", "INC-42",
        now - age, now - age + lasts,
    )  # fmt: skip
    async with gw.runtime.repository.transaction() as tx:
        await tx.add_delegation(grant)
    return grant


def _in(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    wanted = fake.channel_id(channel)
    return [m for (c, _), m in sorted(fake.snapshot().items()) if c == wanted]


async def test_expiry_notice_offers_a_one_click_extension(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """A 3-day grant with a day left: alice gets one DM with "Request 3d more"; her click asks
    for the same access again (a new review with its card), told to her privately."""
    grant = await _grant(gw, 2 * DAY + timedelta(minutes=1), 3 * DAY)
    scheduler = scheduler_for(gw.runtime)
    assert (await scheduler.run_job("expiry-notice")).summary.startswith("1 holders")
    dm = await wait_for(lambda: _in(fake, "U0ALICE"), what="alice's notice")
    assert "Request 3d more" in str(dm[0])
    assert (await scheduler.run_job("expiry-notice")).summary.startswith("0 holders")
    (ref,) = [key for key in fake.snapshot() if key[0] == fake.channel_id("U0ALICE")]
    channel, ts = ref
    click = {
        "type": "block_actions", "team": {"id": "T0AIRLOCK"},
        "user": {"id": "U0ALICE", "team_id": "T0AIRLOCK"}, "api_app_id": "A0AIRLOCK",
        "trigger_id": "0.t", "container": {"type": "message", "message_ts": ts,
                                          "channel_id": channel},
        "channel": {"id": channel}, "message": {"ts": ts},
        "actions": [{"type": "button", "action_id": EXTEND_ACTION_ID, "block_id": "b",
                     "value": grant.id, "action_ts": str(time.time())}],
    }  # fmt: skip
    assert (await post_signed(gw, fake, interaction_body(click))).status_code == 200
    await wait_for(lambda: cards_in(fake), what="the extension's card")
    (review,) = await gw.runtime.repository.list_reviews(requester="alice@example.com")
    assert review.kind is ReviewKind.ACCESS and review.access is not None
    assert review.access.duration == 3 * DAY and grant.id in review.access.reason
    await wait_for(lambda: "waits for the approvers" in str(_in(fake, "U0ALICE")))


async def test_unused_grant_revoked_tells_holder_and_owners(
    gw: RunningGateway, fake: FakeSlack
) -> None:
    """A grant unused for 15 days on a connection with idle_revoke_after 14d: idle-revoke ends
    it; #db-owners is told why, and so is alice."""
    grant = await _grant(gw, 15 * DAY, 20 * DAY)
    assert (await scheduler_for(gw.runtime).run_job("idle-revoke")).summary.startswith("1 ")
    owners = await wait_for(lambda: _in(fake, "#db-owners"), what="the owners' notice")
    assert "unused for 14 days" in str(owners) and grant.id in str(owners)
    dm = await wait_for(lambda: _in(fake, "U0ALICE"), what="alice's DM")
    assert "unused for 14 days" in str(dm)
