"""The access review: who holds what on each connection, seen from its owners.

Values (frozen) and pure functions shared by the weekly digest, the access-review report and the
chat's Keep / Revoke buttons:

- an :class:`AccessEntry` is one line of the review: a delegation (``GRANT``, keyed by its id)
  or a standing group of a connection (``GROUP``, keyed ``group:<connection>/<group>``), with
  its usage (actor chains seen, last used, uses) read from the recorded sessions;
- a :class:`Recipient` is where a connection's owners read their digest: the owners' channel
  when one is configured (one message for everyone), else a direct message to each owner;
- a :class:`Digest` is what one recipient is sent in one period (an ISO week): a snapshot of
  the entries taken when it was built, so a redraw shows the same lines with their new status;
- a :class:`LineStatus` is what became of a line since the digest was built (kept, revoked,
  ended) and a :class:`ReviewEvent` one step of a line's recertification history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from approvals.model import Connection

__all__ = [
    "OPEN",
    "UNUSED_AFTER",
    "AccessEntry",
    "Digest",
    "EntryKind",
    "LineState",
    "LineStatus",
    "Recipient",
    "ReviewEvent",
    "build_digests",
    "digest_id",
    "group_key",
    "human_span",
    "open_lines",
    "period_of",
    "recipients_for",
    "sort_entries",
]

UNUSED_AFTER = timedelta(days=30)  # a line not used for this long is flagged (and listed first)


class EntryKind(StrEnum):
    GRANT = "grant"
    GROUP = "group"


def group_key(connection: str, group: str) -> str:
    """The key of a standing group's line: ``group:pg-prod/eng``."""
    return f"group:{connection}/{group}"


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One line of an access review.

    ``holder`` is the delegation's subject, or the group's name; ``chains`` are the distinct
    actor chains seen in sessions that rested on the line (``alice → ci-runner``); ``since`` and
    ``expires_at`` are None for a standing group (it lasts as long as the configuration says).
    """

    kind: EntryKind
    key: str
    connection: str
    holder: str
    role: str | None = None
    granted_by: str | None = None
    reason: str | None = None
    since: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    uses: int = 0
    chains: tuple[str, ...] = ()
    recertified_at: datetime | None = None

    def unused(self, now: datetime, window: timedelta = UNUSED_AFTER) -> bool:
        """Not used within ``window`` before ``now`` (a line younger than that is not flagged)."""
        last = self.last_used_at or self.since
        if last is None:  # a standing group nobody has used in the lookback
            return True
        return last <= now - window


def sort_entries(
    entries: Iterable[AccessEntry], now: datetime, window: timedelta = UNUSED_AFTER
) -> list[AccessEntry]:
    """By connection; within one, the unused first, then by holder and key."""
    return sorted(entries, key=lambda e: (e.connection, not e.unused(now, window), e.holder, e.key))


@dataclass(frozen=True, slots=True)
class Recipient:
    """``channel``: an owners' channel; ``person``: one owner, by direct message."""

    kind: str
    address: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.address}"

    @classmethod
    def parse(cls, key: str) -> Recipient:
        kind, _, address = key.partition(":")
        if kind not in ("channel", "person") or not address:
            raise ValueError(f"not a digest recipient: {key!r}")
        return cls(kind, address)


def recipients_for(connection: Connection) -> list[Recipient]:
    """Who reads ``connection``'s review: its owners' channel, else each owner directly."""
    if connection.owners.channel:
        return [Recipient("channel", connection.owners.channel)]
    return [Recipient("person", owner) for owner in sorted(connection.owners.identities)]


def period_of(local: datetime) -> str:
    """The digest period of a local time: its ISO week, ``2026-W47``."""
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def digest_id(period: str, recipient: Recipient) -> str:
    return f"{period}/{recipient.key}"


@dataclass(frozen=True, slots=True)
class Digest:
    """One recipient's review for one period, as built (lines in display order)."""

    id: str
    recipient: Recipient
    period: str
    created_at: datetime
    entries: tuple[AccessEntry, ...]
    unused_after: timedelta = UNUSED_AFTER

    def entry(self, key: str) -> AccessEntry | None:
        return next((e for e in self.entries if e.key == key), None)

    def unused(self, entry: AccessEntry) -> bool:
        return entry.unused(self.created_at, self.unused_after)


def build_digests(
    entries: Iterable[AccessEntry],
    connections: Mapping[str, Connection],
    *,
    now: datetime,
    period: str,
    unused_after: timedelta = UNUSED_AFTER,
) -> list[Digest]:
    """One digest per recipient with at least one line (empty digests are not sent)."""
    by_connection: dict[str, list[AccessEntry]] = {}
    for entry in entries:
        by_connection.setdefault(entry.connection, []).append(entry)
    by_recipient: dict[Recipient, list[AccessEntry]] = {}
    for name, lines in by_connection.items():
        connection = connections.get(name)
        if connection is None:
            continue
        for recipient in recipients_for(connection):
            by_recipient.setdefault(recipient, []).extend(lines)
    return [
        Digest(
            id=digest_id(period, recipient),
            recipient=recipient,
            period=period,
            created_at=now,
            entries=tuple(sort_entries(lines, now, unused_after)),
            unused_after=unused_after,
        )
        for recipient, lines in sorted(by_recipient.items(), key=lambda kv: kv[0].key)
    ]


class LineState(StrEnum):
    OPEN = "open"  # nobody decided yet: Keep / Revoke offered
    KEPT = "kept"
    REVOKED = "revoked"
    ENDED = "ended"  # the grant expired (or was revoked outside the review) meanwhile


@dataclass(frozen=True, slots=True)
class LineStatus:
    state: LineState
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None


OPEN = LineStatus(LineState.OPEN)


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One step of a line's history: granted, recertified, revoked or expired; by whom, when."""

    key: str
    connection: str | None
    action: str
    by: str | None
    at: datetime
    reason: str | None = None
    digest: str | None = None


def human_span(span: timedelta) -> str:
    """``14 days``, ``1 day``, ``6 hours``, ``45 minutes``."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600)):
        if seconds >= size and seconds % size == 0:
            return _plural(seconds // size, unit)
    if seconds >= 60:
        return _plural(seconds // 60, "minute")
    return _plural(seconds, "second")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def open_lines(digest: Digest, statuses: Mapping[str, LineStatus]) -> Sequence[AccessEntry]:
    """The lines nobody has decided yet."""
    return [e for e in digest.entries if statuses.get(e.key, OPEN).state is LineState.OPEN]
