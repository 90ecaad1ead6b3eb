"""Teams through the outbox, end to end on the real gateway (SQLite store) and the fakes: 429s
waited out, one card across a restart, reminders in the card's thread, and the weekly digest
with Keep / Revoke per line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from approvals import Delegation, Identity, Outcome, new_id
from bot.cards.teams_digest import KEEP_VERB
from bot.cards.teams_messages import EXTEND_VERB
from gateway.cli.compose import scheduler_for
from scheduler import SchedulerConfig
from tests.bot.chatkit import wait_for, wait_until
from tests.bot.teamskit import ALICE as ALICE_ID
from tests.bot.teamskit import (
    BOB,
    CAROL,
    CHANNEL,
    OWNERS,
    Teams,
    teams_connection,
    teams_fakes,
    teams_gateway,
)
from tests.scheduler.kit import ALICE, MovableClock

BOB_ID = Identity("bob@example.com", groups=frozenset({"dba"}), email="bob@example.com")


@pytest.fixture
def teams() -> Iterator[Teams]:
    """The fake login service and Bot Connector."""
    with teams_fakes() as fakes:
        yield fakes


async def test_429s_are_waited_out_and_the_card_is_posted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """Two 429s with Retry-After 1 s: the card arrives after at least 2 s, exactly once."""
    async with teams_gateway(tmp_path, monkeypatch, teams) as gw:
        teams.connector.throttle(2, 1.0)
        started = time.monotonic()
        await gw.runtime.service.request_access(
            ALICE, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
        )
        await wait_for(lambda: teams.connector.cards_in(CHANNEL), within=15, what="the card")
        assert time.monotonic() - started >= 2.0
        assert teams.connector.status_count(429) == 2
        assert len(teams.connector.cards_in(CHANNEL)) == 1


async def test_a_restart_redraws_the_same_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """The card is posted by one process; after a restart on the same store a decision
    redraws that card (PUT) and replies in its thread; no second card is posted."""
    async with teams_gateway(tmp_path, monkeypatch, teams) as gw:
        review = await gw.runtime.service.request_access(
            ALICE, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
        )
        posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="card"))[0]
    async with teams_gateway(tmp_path, monkeypatch, teams) as gw:
        await gw.runtime.service.decide(review.id, BOB_ID, Outcome.APPROVE)
        await wait_for(lambda: "Approved by" in posted.text, what="the redraw")
        await wait_for(lambda: teams.connector.thread(posted.conversation), what="the reply")
    assert len(teams.connector.cards_in(CHANNEL)) == 1


async def test_reminders_reach_the_cards_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """An unanswered access request: reminder 1 of 3 in the card's thread after a minute, and
    the next step only once."""
    conn = teams_connection(access="request", review_timeout="10m")
    async with teams_gateway(tmp_path, monkeypatch, teams, connections=[conn]) as gw:
        clock = MovableClock()
        gw.runtime.service.clock = clock
        await gw.runtime.service.request_access(
            ALICE, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
        )
        posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="card"))[0]
        scheduler = scheduler_for(gw.runtime)
        scheduler.jobs.config = SchedulerConfig(reminder_backoff=(timedelta(minutes=1),) * 3)

        def thread() -> list[str]:
            return [p.text for p in teams.connector.thread(posted.conversation)]

        clock.advance(timedelta(minutes=1, seconds=1))
        await scheduler.run_job("reminders")
        await wait_for(lambda: any("Reminder 1 of 3" in t for t in thread()), what="reminder")
        await scheduler.run_job("reminders")
        assert sum("Reminder 1 of 3" in t for t in thread()) == 1


async def test_the_digest_arrives_and_keep_is_recorded_and_redrawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """carol (owner, no owners' channel) gets the weekly digest in her personal chat, one card
    per page with Keep / Revoke per line; her Keep recertifies the grant and redraws the page."""
    conn = teams_connection(access="request", max_grant="30d")
    conn["owners"] = {"identities": ["carol@example.com"]}
    async with teams_gateway(tmp_path, monkeypatch, teams, connections=[conn]) as gw:
        now = gw.runtime.service.clock.now()
        grant = Delegation(
            id=new_id(), subject="alice@example.com", connection="pg-test", role=None,
            granted_by="bob@example.com", reason="INC-42", created_at=now - timedelta(days=50),
            expires_at=now + timedelta(days=10), last_used_at=now - timedelta(days=45),
        )  # fmt: skip
        async with gw.runtime.repository.transaction() as tx:
            await tx.add_delegation(grant)
        run = await scheduler_for(gw.runtime).run_job("digest")
        assert run.summary.startswith("1 digests"), run.summary
        page = (await wait_for(lambda: teams.connector.personal(CAROL), what="the digest"))[0]
        card = page.card
        assert card is not None and "alice@example.com" in page.text
        keep = next(
            a for block in card["body"] for a in block.get("actions", [])
            if a["verb"] == KEEP_VERB and a["data"]["k"] is not None
        )  # fmt: skip
        client = teams.client(gw)
        answer = await client.send(client.invoke(CAROL, KEEP_VERB, keep["data"], page.conversation))
        assert "Recorded" in str(answer.json()["value"])

        async def kept() -> bool:
            again = await gw.runtime.repository.get_delegation(grant.id)
            return again is not None and again.recertified_at is not None

        await wait_until(kept, what="the recertification")
        await wait_for(lambda: "Kept by carol@example.com" in page.text, what="the redraw")
        refused = await client.send(client.invoke(BOB, KEEP_VERB, keep["data"], page.conversation))
        assert "⚠️" in str(refused.json()["value"])


async def test_the_last_reminder_escalates_to_a_channel_and_to_people(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """At the last reminder step the card goes to the escalation channel and to bob's personal
    chat (dave has no teams_id: skipped), and the card's thread says where."""
    leads = "19:dba-leads@thread.tacv2"
    conn = teams_connection(
        access="request", review_timeout="10m",
        escalation={"channel": leads, "groups": ["dba"]},
    )  # fmt: skip
    async with teams_gateway(tmp_path, monkeypatch, teams, connections=[conn]) as gw:
        clock = MovableClock()
        gw.runtime.service.clock = clock
        await gw.runtime.service.request_access(
            ALICE, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
        )
        posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="card"))[0]
        scheduler = scheduler_for(gw.runtime)
        scheduler.jobs.config = SchedulerConfig(reminder_backoff=(timedelta(minutes=1),) * 3)
        clock.advance(timedelta(minutes=1, seconds=1))
        await scheduler.run_job("reminders")
        clock.advance(timedelta(minutes=2))
        await scheduler.run_job("reminders")
        note = await wait_for(
            lambda: [
                p for p in teams.connector.thread(posted.conversation) if "Escalated" in p.text
            ],
            what="the escalation note",
        )
        assert leads in note[0].text
        assert teams.connector.cards_in(leads) and teams.connector.personal(BOB)


async def test_expiry_notice_and_its_extend_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """A 3-day grant with a day left: alice gets one card offering its length again within
    max_grant ("Request 8h more") in her personal chat; her click files the request (a new
    review and its card); bob's click on her card is refused."""
    async with teams_gateway(tmp_path, monkeypatch, teams) as gw:
        now = gw.runtime.service.clock.now()
        grant = Delegation(
            new_id(), "alice@example.com", "pg-test", None, "bob@example.com", "INC-42",
            now - timedelta(days=2, minutes=1), now + timedelta(days=1) - timedelta(minutes=1),
        )  # fmt: skip
        async with gw.runtime.repository.transaction() as tx:
            await tx.add_delegation(grant)
        scheduler = scheduler_for(gw.runtime)
        assert (await scheduler.run_job("expiry-notice")).summary.startswith("1 holders")
        notice = (await wait_for(lambda: teams.connector.personal(ALICE_ID), what="notice"))[0]
        assert "Request 8h more" in notice.text
        assert (await scheduler.run_job("expiry-notice")).summary.startswith("0 holders")
        client = teams.client(gw)
        click = client.invoke(ALICE_ID, EXTEND_VERB, {"grant": grant.id}, notice.conversation)
        answer = await client.send(click)
        assert "waits for the approvers" in answer.json()["value"]
        await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the extension's card")
        stranger = client.invoke(BOB, EXTEND_VERB, {"grant": grant.id}, notice.conversation)
        assert "Only the holder" in (await client.send(stranger)).json()["value"]


async def test_an_idle_revocation_tells_the_owners_channel_and_the_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> None:
    """A grant unused for 15 days on a connection with idle_revoke_after 14d: idle-revoke ends
    it; the owners' Teams channel gets one notice saying why, and alice is told personally."""
    conn = teams_connection(idle_revoke_after="14d", max_grant="30d")
    async with teams_gateway(tmp_path, monkeypatch, teams, connections=[conn]) as gw:
        now = gw.runtime.service.clock.now()
        grant = Delegation(
            new_id(), "alice@example.com", "pg-test", None, "bob@example.com", "INC-42",
            now - timedelta(days=15), now + timedelta(days=5),
        )  # fmt: skip
        async with gw.runtime.repository.transaction() as tx:
            await tx.add_delegation(grant)
        done = await scheduler_for(gw.runtime).run_job("idle-revoke")
        assert done.summary.startswith("1 "), done.summary
        owners = await wait_for(lambda: teams.connector.cards_in(OWNERS), what="the notice")
        assert "unused" in owners[0].text and grant.id in owners[0].text
        told = await wait_for(lambda: teams.connector.personal(ALICE_ID), what="alice's DM")
        assert "revoked" in told[0].text
        await scheduler_for(gw.runtime).run_job("idle-revoke")
        assert len(teams.connector.cards_in(OWNERS)) == 1
