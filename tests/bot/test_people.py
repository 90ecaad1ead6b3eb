"""Slack users map to people strictly: an explicit [[people]] slack_id wins, else exactly one
e-mail match; zero or several matches, or an e-mail claimed by another Slack id, are refused."""

from __future__ import annotations

import pytest

from bot.config import Person
from bot.errors import UnknownPerson
from bot.people import People

PEOPLE = People(
    [
        Person("bob@example.com", frozenset({"dba"}), slack_id="U0BOB"),
        Person("dave@example.com", frozenset({"dba"})),
        Person("twin@example.com", slack_id="U0TWIN"),
        Person("twin2@example.com", slack_id="U0TWIN"),
        Person("dup@example.com"),
        Person("DUP@example.com"),
    ]
)


def test_explicit_slack_id_wins() -> None:
    """A [[people]] entry naming the Slack id decides, whatever the profile says."""
    assert PEOPLE.by_slack_id("U0BOB") == "bob@example.com"
    assert PEOPLE.by_slack_id("U0NOBODY") is None


def test_profile_email_maps_case_insensitively() -> None:
    """Without an entry naming the id, the profile e-mail matches one entry (any case)."""
    assert PEOPLE.by_profile("U0DAVE", "Dave@Example.com") == "dave@example.com"
    assert PEOPLE.by_profile("U0NEW", "new@example.com") == "new@example.com"


@pytest.mark.parametrize(
    ("user", "email", "why"),
    [
        ("U0X", None, "no e-mail"),
        ("U0X", "dup@example.com", "several .* entries have"),
        ("U0EVE", "bob@example.com", "mapped to another Slack user"),
    ],
)
def test_unclear_profiles_are_refused(user: str, email: str | None, why: str) -> None:
    """No e-mail, several entries, or an e-mail whose entry names another Slack id: refused."""
    with pytest.raises(UnknownPerson, match=why):
        PEOPLE.by_profile(user, email)


def test_two_entries_naming_one_slack_id_are_refused() -> None:
    """Two entries claiming the same Slack id make that user nobody, not either of them."""
    with pytest.raises(UnknownPerson, match="several"):
        PEOPLE.by_slack_id("U0TWIN")


def test_identity_carries_the_configured_groups() -> None:
    """The identity for an e-mail has the entry's groups; an unknown e-mail has none."""
    assert PEOPLE.identity("BOB@example.com").groups == {"dba"}
    assert PEOPLE.identity("bob@example.com").subject == "bob@example.com"
    assert PEOPLE.identity("stranger@example.com").groups == frozenset()
