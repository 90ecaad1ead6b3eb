"""Golden tests: each renderer's output for six representative cards, frozen in tests/bot/golden/.

To re-freeze after an intended change: ``AIRLOCK_UPDATE_GOLDEN=1 pytest tests/bot``, then read the
diff by eye before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bot.cards import (
    deny_reason_modal,
    render_html,
    render_slack,
    render_slack_dm,
    render_slack_thread_reply,
)
from tests.bot.samples import GOLDEN_CASES, golden_card
from tests.support.fake_slack import validate_blocks

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("AIRLOCK_UPDATE_GOLDEN") == "1"


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; render it with AIRLOCK_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs from its golden file"


def _json(payload: Any) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def _slack_messages(name: str) -> dict[str, Any]:
    card = golden_card(name)
    last = card.decisions[-1] if card.decisions else None
    return {
        "card": render_slack(card),
        "dm": render_slack_dm(card),
        "thread_reply": render_slack_thread_reply(card, last),
    }


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_slack_golden(name: str) -> None:
    """The Slack card, requester DM and thread reply match their frozen JSON."""
    _check(GOLDEN / f"{name}.slack.json", _json(_slack_messages(name)))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_html_golden(name: str) -> None:
    """The console card matches its frozen HTML."""
    _check(GOLDEN / f"{name}.html", render_html(golden_card(name)))


def test_deny_modal_golden() -> None:
    """The deny-reason modal matches its frozen JSON."""
    _check(GOLDEN / "deny_reason_modal.json", _json(deny_reason_modal("5f0c2a9e-4b7d")))


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_payloads_are_valid(name: str) -> None:
    """Every golden Slack payload passes the Block Kit validator the fake server enforces."""
    for payload in _slack_messages(name).values():
        assert validate_blocks(payload) == []
