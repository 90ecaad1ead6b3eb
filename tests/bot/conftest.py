"""Fixtures for the bot tests: a running fake Slack Web API with a small user table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_slack import FakeSlack, SlackUser

USERS = (
    SlackUser("U0BOB", "bob", email="bob@example.com", real_name="Bob"),
    SlackUser("U0CAROL", "carol", email="carol@example.com", real_name="Carol"),
    SlackUser("U0NOMAIL", "nomail"),
)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack on a free port, stopped after the test."""
    with FakeSlack(users=USERS) as fake:
        yield fake
