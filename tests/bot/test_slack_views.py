"""The Slack views beside the card (access form, App Home, /access answers, revocation DM) stay
inside Slack's limits, whatever their content, and escape what users typed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from approvals import Delegation
from bot.commands import RequestAccess
from bot.queries import Overview
from bot.slack.views import access_request_modal, home_view, overview_text, review_line, revoked_dm
from tests.bot.samples import NOW, statement_review
from tests.support.fake_slack import validate_blocks

LONG = "x" * 5000


def _grant(**changes: object) -> Delegation:
    grant = Delegation(
        id="g-1",
        subject="alice@example.com",
        connection="pg-prod",
        role="read_only",
        granted_by="bob@example.com",
        reason="INC-1",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=2),
    )
    return replace(grant, **changes)  # type: ignore[arg-type]


def test_access_form_prefills_and_fits() -> None:
    """The form pre-fills what was typed (cut to each field's length) and passes the fake's
    validator even for absurd input."""
    modal = access_request_modal(RequestAccess("pg-prod", LONG, None, LONG), "C0GENERAL")
    assert validate_blocks({"view": modal}) == []
    fields = {b["block_id"]: b["element"] for b in modal["blocks"][1:]}
    assert fields["connection"]["initial_value"] == "pg-prod"
    assert len(fields["reason"]["initial_value"]) <= 2000
    assert "initial_value" not in fields["duration"]


def test_home_and_list_fit_with_many_long_items() -> None:
    """Thirty reviews with 5,000-character statements still make a valid App Home and list."""
    reviews = tuple(
        replace(statement_review(), id=f"r-{n}", statement="<@U0ALL> " + LONG) for n in range(30)
    )
    view = Overview(reviews, reviews, (_grant(),) * 30)
    home = home_view(view, NOW)
    assert validate_blocks({"view": home}) == []
    text = overview_text(view, NOW)
    assert (
        validate_blocks({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]})
        == []
    )
    assert "<@U0ALL>" not in str(home) and "&lt;@U0ALL&gt;" in str(home)


def test_review_line_escapes_and_shows_expiry() -> None:
    """A review past its deadline reads as expired; user text cannot mention anyone."""
    review = replace(statement_review(), statement="DROP TABLE <!channel>")
    line = review_line(review, review.expires_at + timedelta(seconds=1))
    assert "expired" in line and "<!channel>" not in line


def test_revoked_dm_names_who_and_why() -> None:
    """The holder's DM says who revoked the grant and why, escaped and within limits."""
    message = revoked_dm(_grant(revoked_by="carol@example.com", revoke_reason="<b>audit</b>"))
    assert validate_blocks(message) == []
    assert "carol@example.com" in str(message) and "&lt;b&gt;audit" in str(message)
