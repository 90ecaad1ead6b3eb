"""Hypothesis: any card, with any text, renders within Slack's limits and never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from approvals.model import Outcome, ReviewKind
from approvals.states import ReviewState
from bot.cards import (
    MAX_REVIEW_ID_LENGTH,
    AccessDetails,
    Card,
    CardDecision,
    deny_reason_modal,
    render_html,
    render_slack,
    render_slack_dm,
    render_slack_thread_reply,
)
from tests.support.fake_slack import validate_blocks

# Any code point, surrogates and controls included, with the characters that matter over-weighted.
_NASTY = st.sampled_from(["<", ">", "&", "`", "*", "\x00", "\r", "\n", "\u202e", "😀", " ", "@"])
_CHAR = st.one_of(_NASTY, st.characters(codec=None, categories=None))
# Long text is a random chunk repeated: Hypothesis cannot draw 40,000 characters one by one.
LONG = st.builds(lambda chunk, times: chunk * times, st.text(_CHAR, min_size=1, max_size=30),
                 st.integers(30, 1500))  # fmt: skip
TEXT = st.text(_CHAR, max_size=60) | LONG
SHORT = st.text(_CHAR, max_size=40)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
IDS = st.text(_CHAR, min_size=1, max_size=MAX_REVIEW_ID_LENGTH)

DECISIONS = st.builds(
    CardDecision,
    who=SHORT | TEXT,
    outcome=st.sampled_from(Outcome),
    reason=st.none() | TEXT,
    at=TIMES,
    break_glass=st.booleans(),
)
ACCESS = st.builds(
    AccessDetails,
    role=st.none() | SHORT,
    duration=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    reason=TEXT,
)
CARDS = st.builds(
    Card,
    review_id=IDS,
    title=TEXT,
    kind=st.sampled_from(ReviewKind),
    requester=TEXT,
    connection=TEXT,
    state=st.sampled_from(ReviewState),
    approvals=st.integers(0, 10_000),
    required=st.integers(1, 10_000),
    created_at=TIMES,
    expires_at=TIMES,
    actor_chain=st.lists(SHORT | TEXT, max_size=5).map(tuple),
    statement=st.none() | TEXT,
    access=st.none() | ACCESS,
    risk=st.none() | TEXT,
    rule=st.none() | TEXT,
    decided_by=st.none() | TEXT,
    decision_reason=st.none() | TEXT,
    decided_at=st.none() | TIMES,
    break_glass=st.booleans(),
    decisions=st.lists(DECISIONS, max_size=40).map(tuple),
    channel=st.none() | SHORT | st.from_regex(r"C[A-Z0-9]{8}", fullmatch=True),
)


@settings(max_examples=150, deadline=None)
@given(card=CARDS)
def test_slack_payloads_always_within_limits(card: Card) -> None:
    """Card, DM and thread replies of any card pass the Block Kit validator."""
    payloads = [render_slack(card), render_slack_dm(card), render_slack_thread_reply(card)]
    payloads += [render_slack_thread_reply(card, vote) for vote in card.decisions[:3]]
    for payload in payloads:
        assert validate_blocks(payload) == []


@settings(max_examples=150, deadline=None)
@given(card=CARDS)
def test_html_never_raises_and_is_utf8(card: Card) -> None:
    """Any card renders to HTML that encodes as UTF-8 and has no raw '<' from user text."""
    html = render_html(card)
    html.encode("utf-8")
    assert html.count("<script") == 0


@settings(max_examples=100, deadline=None)
@given(review_id=IDS)
def test_deny_modal_within_limits(review_id: str) -> None:
    """The deny modal for any valid review id passes views.open limits."""
    assert validate_blocks({"view": deny_reason_modal(review_id)}) == []
