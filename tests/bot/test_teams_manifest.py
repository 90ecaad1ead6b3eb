"""The Teams app package's manifest: valid JSON with placeholders only where a deployment fills
them in, the bot's id being the app id, and the commands the bot understands."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.teams.views import TEAMS_USAGE

MANIFEST = Path(__file__).parents[2] / "manifests" / "teams" / "manifest.json"


def test_the_manifest_names_the_bot_and_its_commands() -> None:
    """id and botId are the TEAMS_APP_ID placeholder; every placeholder is a documented one;
    each listed command is one the usage text describes."""
    text = MANIFEST.read_text()
    manifest = json.loads(text)
    assert manifest["id"] == manifest["bots"][0]["botId"] == "{{TEAMS_APP_ID}}"
    placeholders = set(re.findall(r"\{\{([A-Z_]+)\}\}", text))
    assert placeholders == {"TEAMS_APP_ID", "COMPANY_NAME", "AIRLOCK_PUBLIC_HOST"}
    commands = manifest["bots"][0]["commandLists"][0]["commands"]
    assert {c["title"] for c in commands} == {"access request", "access list", "access help"}
    assert all(c["title"] in TEAMS_USAGE for c in commands)
    assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}
