"""The ``[[people]]`` directory: chat users (Slack, Teams) to identities, strictly.

A chat user is a person when exactly one entry names their chat id, or else when their chat
profile's e-mail matches at most one entry (none: the e-mail itself, with no groups, as the API
treats it). Zero or several matches are refused, and an entry that names a *different* chat id
for that e-mail is refused too: the explicit mapping wins over a profile anyone can edit.
E-mails are compared and handed on in their canonical spelling (:mod:`approvals.subjects`): a
profile saying ``Bob@Example.com`` is bob@example.com.
"""

from __future__ import annotations

from collections.abc import Iterable

from approvals import Identity
from approvals.subjects import canonical
from bot.config import Person
from bot.errors import UnknownPerson

__all__ = ["People"]


class People:
    def __init__(self, people: Iterable[Person]) -> None:
        self.entries = tuple(people)

    def by_email(self, email: str) -> list[Person]:
        """Entries with this e-mail, compared in the canonical spelling (approvals.subjects)."""
        wanted = canonical(email)
        return [p for p in self.entries if canonical(p.email) == wanted]

    def identity(self, email: str) -> Identity:
        """The person as the gateway API sees an ``approver``/``requester`` e-mail."""
        found = self.by_email(email)
        groups = found[0].groups if len(found) == 1 else frozenset()
        subject = found[0].email if len(found) == 1 else email.strip()
        return Identity(subject=subject, groups=groups, email=subject)

    def slack_id(self, email: str) -> str | None:
        found = [p.slack_id for p in self.by_email(email) if p.slack_id]
        return found[0] if len(found) == 1 else None

    def by_slack_id(self, user_id: str) -> str | None:
        """The e-mail of the one entry naming Slack user ``user_id``; None when none does."""
        named = [p for p in self.entries if p.slack_id == user_id]
        if len(named) > 1:
            raise UnknownPerson(f"several [[people]] entries name Slack user {user_id}")
        return canonical(named[0].email) if named else None

    def by_profile(self, user_id: str, profile_email: str | None) -> str:
        """The person behind a Slack user no entry names, from their profile's e-mail."""
        if not profile_email:
            raise UnknownPerson(
                "your Slack profile has no e-mail and no [[people]] entry names your Slack id"
            )
        matches = self.by_email(profile_email)
        if len(matches) > 1:
            raise UnknownPerson(f"several [[people]] entries have the e-mail {profile_email}")
        if matches and matches[0].slack_id and matches[0].slack_id != user_id:
            raise UnknownPerson(
                f"{profile_email} is mapped to another Slack user; ask an admin to check [[people]]"
            )
        return canonical(matches[0].email if matches else profile_email)

    # -- Teams ------------------------------------------------------------------------------

    def teams_id(self, email: str) -> str | None:
        found = [p.teams_id for p in self.by_email(email) if p.teams_id]
        return found[0] if len(found) == 1 else None

    def by_teams_id(self, *user_ids: str) -> str | None:
        """The e-mail of the one entry naming this Teams user (by its ``29:`` id or its Entra
        object id); None when none does."""
        wanted = {u for u in user_ids if u}
        named = [p for p in self.entries if p.teams_id and p.teams_id in wanted]
        if len(named) > 1:
            raise UnknownPerson("several [[people]] entries name your Teams user")
        return canonical(named[0].email) if named else None

    def by_roster(self, user_ids: tuple[str, ...], roster_email: str | None) -> str:
        """The person behind a Teams user no entry names, from the e-mail (or UPN) the
        conversation's roster gives for them."""
        if not roster_email or "@" not in roster_email:
            raise UnknownPerson(
                "Teams gives no e-mail for you and no [[people]] entry names your Teams id"
            )
        matches = self.by_email(roster_email)
        if len(matches) > 1:
            raise UnknownPerson(f"several [[people]] entries have the e-mail {roster_email}")
        if matches and matches[0].teams_id and matches[0].teams_id not in user_ids:
            raise UnknownPerson(
                f"{roster_email} is mapped to another Teams user; ask an admin to check [[people]]"
            )
        return canonical(matches[0].email if matches else roster_email)
