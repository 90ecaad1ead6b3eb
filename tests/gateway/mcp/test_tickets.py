"""The approval ticket's binding, the parameters' encoding, and the card of an MCP review."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from approvals import Actor, Identity, Review, ReviewKind, ReviewState
from bot.cards.model import card_from_review
from gateway.mcp import CallRefused, encode_params, ticket_of

ALICE = Identity("alice@example.com", actors=(Actor("ci-runner"), Actor("sql-agent")))
SQL = "DELETE FROM orders"


def test_the_ticket_binds_text_values_connection_and_chain() -> None:
    """The identical request gives the same ticket; any change of text (one space), values,
    connection or chain gives another."""
    base = ticket_of(ALICE, "pg-prod", SQL, (b"1",))
    assert base == ticket_of(ALICE, "pg-prod", SQL, (b"1",))
    others = {
        ticket_of(ALICE, "pg-prod", SQL + " ", (b"1",)),
        ticket_of(ALICE, "pg-prod", SQL, (b"2",)),
        ticket_of(ALICE, "pg-prod", SQL, (None,)),
        ticket_of(ALICE, "pg-prod", SQL, ()),
        ticket_of(ALICE, "pg-other", SQL, (b"1",)),
        ticket_of(replace(ALICE, actors=(Actor("ci-runner"),)), "pg-prod", SQL, (b"1",)),
        ticket_of(replace(ALICE, actors=()), "pg-prod", SQL, (b"1",)),
    }
    assert base not in others and len(others) == 7


def test_parameters_are_bound_as_text() -> None:
    """Strings, numbers, booleans and null become the text values PostgreSQL binds."""
    assert encode_params(["x", 1, 2.5, True, False, None]) == (
        b"x", b"1", b"2.5", b"true", b"false", None,
    )  # fmt: skip
    assert encode_params(None) == ()
    with pytest.raises(CallRefused, match=r"parameter \$1 is a list"):
        encode_params([[1, 2]])  # type: ignore[list-item]


def test_the_card_of_an_mcp_review_says_so_and_shows_the_chain() -> None:
    """A review held for an MCP call is titled "via MCP" and shows the whole chain."""
    now = datetime.now(UTC)
    review = Review(
        id="r-1", kind=ReviewKind.STATEMENT, requester=ALICE, connection="pg-prod",
        state=ReviewState.PENDING, quorum=1, created_at=now,
        expires_at=now + timedelta(minutes=15), statement=SQL, via="MCP", ticket="t" * 64,
    )  # fmt: skip
    card = card_from_review(review, now=now, channel="#dba-oncall")
    assert card.title == "Statement on pg-prod via MCP"
    assert card.requester_chain == "alice@example.com → ci-runner → sql-agent"
    plain = card_from_review(replace(review, via=None), now=now, channel=None)
    assert plain.title == "Statement on pg-prod"
