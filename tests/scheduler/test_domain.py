"""The pure rules under the jobs: reminder steps, spans in words, what counts as unused, who
reads a connection's digest, and that empty digests are not built."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approvals import Connection, Owners
from approvals.access_review import (
    AccessEntry,
    EntryKind,
    Recipient,
    build_digests,
    human_span,
    period_of,
    recipients_for,
)
from approvals.lifecycle import reminder_steps

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
BACKOFF = (5 * MIN, 15 * MIN, 45 * MIN)


@pytest.mark.parametrize(
    ("minutes", "steps"),
    [(0, 0), (4, 0), (5, 1), (19, 1), (20, 2), (64, 2), (65, 3), (600, 3)],
)
def test_reminder_steps_follow_the_backoff(minutes: int, steps: int) -> None:
    """Step k is due sum(backoff[:k]) after the review opened: 5, 20, 65 minutes."""
    assert reminder_steps(T0, T0 + minutes * MIN, BACKOFF) == steps


@given(st.lists(st.integers(0, 10_000), min_size=2, max_size=20))
def test_reminder_steps_never_go_back(offsets: list[int]) -> None:
    """Later is never fewer steps, and never more steps than the backoff has."""
    steps = [reminder_steps(T0, T0 + o * MIN, BACKOFF) for o in sorted(offsets)]
    assert steps == sorted(steps) and max(steps) <= len(BACKOFF)


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(days=14), "14 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=36), "36 hours"),
        (timedelta(minutes=90), "90 minutes"),
        (timedelta(seconds=30), "30 seconds"),
    ],
)
def test_spans_read_as_words(span: timedelta, words: str) -> None:
    """The idle reason reads "unused for 14 days", "36 hours", "90 minutes"."""
    assert human_span(span) == words


def test_unused_is_measured_from_last_use_or_from_the_grant() -> None:
    """Used 30 days ago or more (or granted that long ago and never used): unused; a newer
    grant or use is not; a standing group nobody used is."""
    grant = AccessEntry(EntryKind.GRANT, "g", "pg", "alice", since=T0 - timedelta(days=40))
    assert grant.unused(T0)
    assert not AccessEntry(EntryKind.GRANT, "g", "pg", "a", since=T0 - timedelta(days=3)).unused(T0)
    used = AccessEntry(
        EntryKind.GRANT, "g", "pg", "a", since=T0 - timedelta(days=40),
        last_used_at=T0 - timedelta(days=29),
    )  # fmt: skip
    assert not used.unused(T0)
    assert AccessEntry(EntryKind.GROUP, "group:pg/eng", "pg", "eng").unused(T0)


def test_the_owners_channel_reads_the_digest_else_each_owner() -> None:
    """With owners.channel one message goes there; without, one DM per owner identity."""
    both = Connection("a", "postgres", owners=Owners("#owners", frozenset({"c@x", "d@x"})))
    people = Connection("b", "postgres", owners=Owners(None, frozenset({"d@x", "c@x"})))
    assert recipients_for(both) == [Recipient("channel", "#owners")]
    assert recipients_for(people) == [Recipient("person", "c@x"), Recipient("person", "d@x")]
    assert Recipient.parse("person:c@x") == Recipient("person", "c@x")
    with pytest.raises(ValueError, match="recipient"):
        Recipient.parse("team:x")


def test_empty_digests_are_not_built_and_periods_are_iso_weeks() -> None:
    """An owner with no grants and no standing groups gets no digest; the period is the ISO
    week of the configured time zone's date."""
    conns = {"a": Connection("a", "postgres", owners=Owners(None, frozenset({"c@x"})))}
    assert build_digests([], conns, now=T0, period="2026-W10") == []
    assert period_of(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-W01"
    assert period_of(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"
