"""The digest as Slack pages (pure): every page of every size within Slack's limits (checked
by the fake Slack's own validator), every line shown once, unused lines first, buttons per
line and in bulk, decided lines shown with who decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from approvals import AccessMode, ApproverRule, Connection, Owners
from approvals.access_review import (
    AccessEntry,
    EntryKind,
    LineState,
    LineStatus,
    build_digests,
    group_key,
)
from bot.cards.digest import (
    KEEP_ALL_ACTION_ID,
    REVOKE_UNUSED_ACTION_ID,
    digest_card,
    parse_button_value,
    render_slack_digest,
)
from tests.support.fake_slack import validate_blocks

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _connections(names: list[str], owner: str = "carol@example.com") -> dict[str, Connection]:
    owners = Owners(None, frozenset({owner}))
    return {
        n: Connection(
            n, "postgres", AccessMode.STANDING, frozenset({"eng"}), owners,
            ApproverRule(frozenset({"dba"})),
        )
        for n in names
    }  # fmt: skip


def _entries(connections: list[str], grants: int, *, long: bool = False) -> list[AccessEntry]:
    text = "x" * 5000 if long else ""
    entries = []
    for i in range(grants):
        conn = connections[i % len(connections)]
        entries.append(
            AccessEntry(
                EntryKind.GRANT, f"grant-{i:04d}", conn, f"user{i}@example.com{text}",
                role="rw" + text, granted_by="bob@example.com" + text, reason="INC-42",
                since=NOW - 40 * DAY, expires_at=NOW + 20 * DAY,
                last_used_at=NOW - (45 if i % 4 == 0 else 1) * DAY, uses=i,
                chains=tuple(f"user{i} → agent-{j}{text}" for j in range(i % 9)),
            )
        )  # fmt: skip
    for conn in connections:
        entries.append(AccessEntry(EntryKind.GROUP, group_key(conn, "eng"), conn, "eng", uses=3))
    return entries


def _pages(connections: list[str], grants: int, *, long: bool = False) -> list[dict[str, Any]]:
    owned = _connections(connections)
    (digest,) = build_digests(
        _entries(connections, grants, long=long), owned, now=NOW, period="2026-W10"
    )
    return render_slack_digest(digest_card(digest, {}))


def test_three_connections_and_forty_grants_fit_slacks_limits() -> None:
    """An owner of 3 connections with 40 grants (+ 3 standing groups) gets a few pages, each
    within Slack's limits, every line on exactly one page with its own buttons."""
    pages = _pages(["pg-a", "pg-b", "pg-c"], 40)
    assert 2 <= len(pages) <= 3
    keys: list[str] = []
    for page in pages:
        assert validate_blocks(page) == []
        keys += [
            str(parse_button_value(element["value"])[1])
            for element in _elements(page)
            if str(element.get("action_id", "")).startswith("airlock_digest_keep:")
        ]
    lines = [f"grant-{i:04d}" for i in range(40)]
    lines += [group_key(c, "eng") for c in ("pg-a", "pg-b", "pg-c")]
    assert sorted(keys) == sorted(lines)
    bulk = [e["action_id"] for e in _elements(pages[0]) if "_all" in e["action_id"] or
            "unused" in e["action_id"]]  # fmt: skip
    assert bulk == [KEEP_ALL_ACTION_ID, REVOKE_UNUSED_ACTION_ID]


def _elements(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for block in page["blocks"] for e in block.get("elements", []) if "action_id" in e]


def test_unused_lines_come_first_within_each_connection() -> None:
    """Lines unused for 30 days (flagged ⚠️) are listed before the others of their connection."""
    owned = _connections(["pg-a"])
    (digest,) = build_digests(_entries(["pg-a"], 12), owned, now=NOW, period="2026-W10")
    flags = [digest.unused(e) for e in digest.entries]
    assert flags == sorted(flags, reverse=True) and flags[0]
    text = str(render_slack_digest(digest_card(digest, {}))[0])
    assert text.index("⚠️") < text.index("user1@example.com")


def test_huge_digests_and_huge_values_stay_within_limits() -> None:
    """200 grants with 5,000-character names, roles and chains: every page still validates."""
    pages = _pages([f"pg-{i}" for i in range(7)], 200, long=True)
    assert len(pages) >= 9
    for page in pages:
        assert validate_blocks(page) == []


def test_decided_lines_show_who_and_lose_their_buttons() -> None:
    """A kept line shows "Kept by carol", a revoked one "Revoked by carol", an ended one
    "Ended"; none has buttons; with every line decided the bulk buttons are gone too."""
    owned = _connections(["pg-a"])
    (digest,) = build_digests(_entries(["pg-a"], 3), owned, now=NOW, period="2026-W10")
    keys = [e.key for e in digest.entries]
    statuses = {
        keys[0]: LineStatus(LineState.KEPT, "carol@example.com", NOW),
        keys[1]: LineStatus(LineState.REVOKED, "carol@example.com", NOW, "not needed"),
        keys[2]: LineStatus(LineState.ENDED, None, NOW, "expired"),
        keys[3]: LineStatus(LineState.KEPT, "carol@example.com", NOW),
    }
    (page,) = render_slack_digest(digest_card(digest, statuses))
    text = str(page)
    assert "Kept by carol@example.com" in text and "Revoked by carol@example.com" in text
    assert "Ended" in text and "Every line is decided" in text
    assert not [b for b in page["blocks"] if b["type"] == "actions"]


def test_user_text_cannot_mention_or_link() -> None:
    """Holder names and chains are escaped in mrkdwn: no <!channel> or <@U…> reaches Slack as
    markup."""
    owned = _connections(["pg-a"])
    evil = AccessEntry(
        EntryKind.GRANT, "g", "pg-a", "<!channel>", since=NOW, expires_at=NOW + DAY,
        chains=("<@U0BOSS> → agent",),
    )  # fmt: skip
    (digest,) = build_digests([evil], owned, now=NOW, period="2026-W10")
    (page,) = render_slack_digest(digest_card(digest, {}))
    mrkdwn = " ".join(_mrkdwn(page))
    assert "<!channel>" not in mrkdwn and "<@U0BOSS>" not in mrkdwn
    assert "&lt;!channel&gt;" in mrkdwn


def _mrkdwn(node: object) -> list[str]:
    """Every mrkdwn text in a payload (plain_text is never parsed for mentions)."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            return [str(node["text"])]
        return [t for value in node.values() for t in _mrkdwn(value)]
    if isinstance(node, list):
        return [t for value in node for t in _mrkdwn(value)]
    return []
