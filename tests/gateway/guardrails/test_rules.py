"""Rule configuration: validation of [[connections.rules]] entries and their normal form."""

from __future__ import annotations

import pytest

from gateway.guardrails import RuleError, parse_rules


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("not a table", "must be a table"),
        ({"action": "hold"}, "non-empty name"),
        ({"name": " ", "action": "hold"}, "non-empty name"),
        ({"name": "default-x", "action": "hold"}, "reserved"),
        ({"name": "r", "action": "hold", "tables": ["t"]}, "unknown key"),
        ({"name": "r", "action": "deny"}, "allow, hold or block"),
        ({"name": "r"}, "allow, hold or block"),
        ({"name": "r", "action": "hold", "kind": "drop"}, "unknown kind"),
        ({"name": "r", "action": "hold", "kind": 3}, "string or a list"),
        ({"name": "r", "action": "hold", "table": ["a", ""]}, "string or a list"),
        ({"name": "r", "action": "allow", "table": "scratch"}, "must name the kinds"),
        ({"name": "r", "action": "allow", "kind": "server_escape"}, "cannot be allowed"),
        ({"name": "r", "action": "allow", "kind": ["write", "unknown"]}, "cannot be allowed"),
        ({"name": "r", "action": "hold", "regex": "("}, "invalid regex"),
        ({"name": "r", "action": "hold", "regex": 1}, "regex must be a string"),
        ({"name": "r", "action": "hold", "reason": 1}, "reason must be a string"),
    ],
)
def test_bad_rule_config_raises_rule_error(entry: object, message: str) -> None:
    """Each malformed [[connections.rules]] entry raises RuleError saying what is wrong."""
    with pytest.raises(RuleError, match=message):
        parse_rules([entry])  # type: ignore[list-item]


def test_duplicate_rule_names_are_rejected() -> None:
    """Two rules with one name would make errors ambiguous."""
    with pytest.raises(RuleError, match="duplicate"):
        parse_rules([{"name": "r", "action": "hold"}, {"name": "r", "action": "block"}])


def test_rule_error_is_a_value_error_naming_rule_and_key() -> None:
    """RuleError carries the rule and key, and is a ValueError for config loaders."""
    with pytest.raises(ValueError, match="rule 'x', key 'action'") as info:
        parse_rules([{"name": "x", "action": "nope"}])
    assert isinstance(info.value, RuleError)
    assert (info.value.rule, info.value.key) == ("x", "action")


def test_parse_rules_normalises_matches() -> None:
    """Strings become one-element lists, kinds become Kind values, patterns fold case."""
    (rule,) = parse_rules([{"name": "r", "action": "hold", "kind": "Write", "table": "Orders"}])
    assert [k.value for k in rule.kinds] == ["write"]
    assert rule.tables == ("orders",)
