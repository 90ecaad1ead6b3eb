"""``/api/messages`` on the real gateway (SQLite store) against the fakes: the approvers'
refresh, the request form, who a Teams user is (refused when unclear), the tenant check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cards.teams import APPROVE_VERB, REFRESH_VERB
from bot.config import Person
from bot.errors import UnknownPerson
from bot.people import People
from bot.teams.views import REQUEST_VERB
from tests.bot.chatkit import wait_for
from tests.bot.teamskit import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    PEOPLE,
    Teams,
    card_of,
    teams_fakes,
    teams_gateway,
)
from tests.harness import RunningGateway
from tests.scheduler.kit import ALICE as ALICE_ID
from tests.support.fake_teams import TeamsUser

KNOWN = tuple(p for p in PEOPLE if "teams_id" in p)  # every approver has a Teams id (bob)


@pytest.fixture
def teams() -> Iterator[Teams]:
    """The fake login service and Bot Connector."""
    with teams_fakes() as fakes:
        yield fakes


@pytest.fixture
async def gw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teams: Teams
) -> AsyncIterator[RunningGateway]:
    """The gateway with [[people]] naming every approver's Teams id."""
    async with teams_gateway(tmp_path, monkeypatch, teams, people=KNOWN) as running:
        yield running


async def test_only_approvers_get_the_buttons_through_refresh(
    gw: RunningGateway, teams: Teams
) -> None:
    """With every approver's Teams id known, the channel's card has no buttons and a refresh
    for bob alone; bob's refresh returns the buttons, carol's does not."""
    review = await gw.runtime.service.request_access(
        ALICE_ID, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
    )
    posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the card"))[0]
    card = card_of(posted)
    assert "actions" not in card and card["refresh"]["userIds"] == [BOB]
    client = teams.client(gw)
    data = {"review": review.id}
    mine = await client.send(client.invoke(BOB, REFRESH_VERB, data, posted.conversation))
    theirs = await client.send(client.invoke(CAROL, REFRESH_VERB, data, posted.conversation))
    assert APPROVE_VERB in str(mine.json()["value"])
    assert APPROVE_VERB not in str(theirs.json()["value"])


async def test_a_request_with_parts_missing_gets_the_form_and_its_submission_files_it(
    gw: RunningGateway, teams: Teams
) -> None:
    """`access request pg-test` answers with the form (the connection filled in); a bad
    duration is refused on the form; the filled form files the request."""
    client = teams.client(gw)
    personal = f"a:{ALICE}"
    await client.send(client.message(ALICE, "access request pg-test", personal))
    form = (await wait_for(lambda: teams.connector.personal(ALICE), what="the form"))[0]
    inputs = {b["id"]: b.get("value") for b in card_of(form)["body"] if "id" in b}
    assert inputs["connection"] == "pg-test" and inputs["duration"] is None
    data = {"connection": "pg-test", "duration": "soon", "reason": "INC-7"}
    bad = await client.send(client.invoke(ALICE, REQUEST_VERB, data, personal))
    assert "30m, 2h or 1d" in str(bad.json()["value"])
    data["duration"] = "2h"
    good = await client.send(client.invoke(ALICE, REQUEST_VERB, data, personal))
    assert "Requested access to pg-test" in good.json()["value"]
    await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the card")


async def test_strangers_guests_and_bots_are_refused(gw: RunningGateway, teams: Teams) -> None:
    """A Teams user the roster does not list, a guest whose roster e-mail is an approver's, and
    a bot cannot click: each is told why, nothing is decided."""
    teams.connector.add_member(
        TeamsUser("29:guest", "Guest", email="dave@example.com", role="guest")
    )
    review = await gw.runtime.service.request_access(
        ALICE_ID, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42"
    )
    posted = (await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the card"))[0]
    client = teams.client(gw)
    for user in ("29:stranger", "29:guest", "28:some-bot"):
        click = client.invoke(user, APPROVE_VERB, {"review": review.id}, posted.conversation)
        answer = await client.send(click)
        assert "unknown_person" in str(answer.json()["value"]), user
    assert not (await gw.runtime.repository.get_review(review.id) or review).decisions


async def test_another_tenant_and_other_channels_are_refused(
    gw: RunningGateway, teams: Teams
) -> None:
    """A validly signed activity from another tenant is 403; so is a webchat activity; an
    activity type the bot does not handle is 200 and ignored."""
    client = teams.client(gw)
    other = client.message(ALICE, "access help", f"a:{ALICE}")
    other["channelData"] = {"tenant": {"id": "another-tenant"}}
    assert (await client.send(other)).status_code == 403
    webchat = client.message(ALICE, "access help", f"a:{ALICE}")
    webchat["channelId"] = "webchat"
    assert (await client.send(webchat)).status_code == 403
    update = client.activity("conversationUpdate", ALICE, f"a:{ALICE}")
    assert (await client.send(update)).status_code == 200
    assert teams.connector.replies == []


def test_people_map_teams_users_strictly() -> None:
    """By teams_id (29: id or Entra object id) first; else the roster e-mail/UPN in its
    canonical spelling; no e-mail, two entries, or an entry naming another Teams id: refused."""
    people = People(
        (
            Person("bob@example.com", frozenset({"dba"}), teams_id="29:bob"),
            Person("dup@example.com"),
            Person("Dup@Example.com"),
            Person("erin@example.com", teams_id="29:erin"),
        )
    )
    assert people.by_teams_id("29:bob", "aad-bob") == "bob@example.com"
    assert people.by_teams_id("29:x", "29:bob") == "bob@example.com"
    assert people.by_teams_id("29:nobody") is None
    assert people.by_roster(("29:dave",), "Dave@Example.com") == "dave@example.com"
    for ids, email in ((("29:x",), None), (("29:x",), "dup@example.com"),
                       (("29:mallory",), "erin@example.com")):  # fmt: skip
        with pytest.raises(UnknownPerson):
            people.by_roster(ids, email)
    assert people.teams_id("bob@example.com") == "29:bob"


async def test_a_crafted_click_elsewhere_learns_nothing(gw: RunningGateway, teams: Teams) -> None:
    """An Approve invoke for a review, sent from erin's personal chat (where no card of it was
    posted, and she may not see it), is refused with a message that shows nothing of it."""
    teams.connector.add_member(TeamsUser("29:erin", "Erin", email="erin@example.com"))
    review = await gw.runtime.service.request_access(
        ALICE_ID, "pg-test", role=None, duration=timedelta(hours=1), reason="INC-42 secret"
    )
    await wait_for(lambda: teams.connector.cards_in(CHANNEL), what="the card")
    client = teams.client(gw)
    click = client.invoke("29:erin", APPROVE_VERB, {"review": review.id}, "a:29:erin")
    answer = (await client.send(click)).json()
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert "not_an_approver" in answer["value"] and "INC-42" not in answer["value"]
