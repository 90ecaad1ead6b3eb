"""Building the listeners' targets from configuration: bad settings stop the start clearly."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import ConnectionConfig
from gateway.errors import ConfigError
from gateway.postgres.dialect import POSTGRES
from gateway.sessions import build_targets, unserved

DIALECTS = {"postgres": POSTGRES}


def _conn(**overrides: Any) -> ConnectionConfig:
    fields: dict[str, Any] = {"name": "pg-x", "type": "postgres", "upstream": "127.0.0.1:5432"}
    return ConnectionConfig(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"guardrails": "none"}, "unknown guardrails set"),
        ({"rules": [{"name": "r", "action": "explode", "kind": "read"}]}, "pg-x"),
        ({"masking": {"detectors": ["tarot"]}}, "unknown masking detector"),
    ],
)
def test_bad_settings_raise_config_error(overrides: dict[str, Any], expected: str) -> None:
    """Unknown guardrails, bad rules and unknown detectors raise ConfigError naming the
    connection, not a crash in the listener."""
    with pytest.raises(ConfigError, match=expected) as raised:
        build_targets([_conn(**overrides)], DIALECTS)
    assert "pg-x" in raised.value.message


def test_masking_off_and_other_types() -> None:
    """A connection without masking gets none; non-postgres connections are skipped."""
    targets = build_targets([_conn(), _conn(name="ssh-x", type="ssh")], DIALECTS)
    assert list(targets) == ["pg-x"] and targets["pg-x"].masking is None


def test_connections_no_dialect_serves_are_named() -> None:
    """unserved() lists the connections whose type has no dialect, in configuration order."""
    connections = [_conn(name="ssh-x", type="ssh"), _conn(), _conn(name="my-x", type="mysql")]
    assert [c.name for c in unserved(connections, DIALECTS)] == ["ssh-x", "my-x"]


def test_a_target_gets_its_dialects_guardrails_and_masking() -> None:
    """The dialect builds the rule set (with the custom rules) and the masking policy."""
    rules = [{"name": "no-ssn", "action": "block", "regex": "ssn"}]
    targets = build_targets([_conn(rules=rules, masking={"detectors": ["ssn"]})], DIALECTS)
    target = targets["pg-x"]
    assert [rule.name for rule in target.guardrails.rules] == ["no-ssn"]
    assert target.masking is not None and target.masking.detectors == ("ssn",)
