"""The Slack directory reuses what users.info said for a bounded time; [[people]] still wins at
once, and the clients share one set of kept-alive connections."""

from __future__ import annotations

import pytest

from bot.config import Person
from bot.errors import UnknownPerson
from bot.people import People
from bot.slack import sink as sink_module
from bot.slack.client import SlackApi, SlackSessions, web_client
from bot.slack.sink import SlackDirectory
from tests.support.fake_slack import FakeSlack, SlackUser


def _directory(fake: FakeSlack, people: People, sessions: SlackSessions) -> SlackDirectory:
    return SlackDirectory(SlackApi(web_client(fake.bot_token, fake.base_url), sessions), people)


async def test_a_profile_is_asked_once_within_its_time(fake_slack: FakeSlack) -> None:
    """Two clicks by a user no entry names: one users.info call, the same person both times."""
    sessions = SlackSessions()
    try:
        directory = _directory(fake_slack, People(()), sessions)
        assert await directory.email_for("U0CAROL") == "carol@example.com"
        assert await directory.email_for("U0CAROL") == "carol@example.com"
        assert len(fake_slack.calls_to("users.info")) == 1
    finally:
        await sessions.close()


async def test_a_profile_is_asked_again_once_its_time_is_up(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PROFILE_TTL_S Slack is asked again: a deactivation is seen then."""
    sessions = SlackSessions()
    try:
        directory = _directory(fake_slack, People(()), sessions)
        assert await directory.email_for("U0CAROL") == "carol@example.com"
        fake_slack.add_user(SlackUser("U0CAROL", "carol", email="carol@example.com", deleted=True))
        monkeypatch.setattr(sink_module, "PROFILE_TTL_S", 0.0)
        with pytest.raises(UnknownPerson):
            await directory.email_for("U0CAROL")
        assert len(fake_slack.calls_to("users.info")) == 2
    finally:
        await sessions.close()


async def test_a_people_entry_wins_over_a_cached_profile_at_once(fake_slack: FakeSlack) -> None:
    """An entry naming the Slack id, added after the profile was cached, decides the next click."""
    sessions = SlackSessions()
    try:
        directory = _directory(fake_slack, People(()), sessions)
        assert await directory.email_for("U0CAROL") == "carol@example.com"
        directory.people = People((Person("caroline@example.com", slack_id="U0CAROL"),))
        assert await directory.email_for("U0CAROL") == "caroline@example.com"
    finally:
        await sessions.close()


async def test_clients_share_one_session(fake_slack: FakeSlack) -> None:
    """Both Slack clients of a chat use the same aiohttp session, made on first use."""
    sessions = SlackSessions()
    try:
        first = SlackApi(web_client(fake_slack.bot_token, fake_slack.base_url), sessions)
        second = SlackApi(web_client(fake_slack.bot_token, fake_slack.base_url), sessions)
        await first.call("auth.test")
        await second.call("auth.test")
        assert first.client.session is not None
        assert first.client.session is second.client.session
    finally:
        await sessions.close()
