"""RuleSet with a toy dialect: verdicts by the rules, cached by text, never served stale."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.guardrails import (
    Action,
    Classification,
    Finding,
    Kind,
    RuleSet,
    Statement,
    StatementBlocked,
    rules_from_config,
)


@dataclass(frozen=True)
class ToyState:
    """A dialect's session state with one input verdicts may depend on."""

    strict: bool = False

    def value_of(self, dependency: str) -> object:
        return self.strict if dependency == "strict" else None


class ToyClassifier:
    """Reads the first word of a text as its kind; ``?`` makes the kind depend on ``strict``."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, text: str, state: ToyState) -> Classification:
        self.seen.append(text)
        word = text.split(maxsplit=1)[0].lower()
        kind = Kind.UNKNOWN if "?" in text and state.strict else Kind(word)
        depends = frozenset(["strict"]) if "?" in text else frozenset()
        statement = Statement(text, word, (Finding(kind, f"toy {word}"),), tables=("t",))
        return Classification((statement,), depends)


@pytest.fixture
def toy() -> ToyClassifier:
    """A fresh toy classifier that records what it was asked."""
    return ToyClassifier()


def test_verdicts_follow_the_default_actions_and_custom_rules(toy: ToyClassifier) -> None:
    """A read runs, a destroy is held, and a custom block rule tightens a write."""
    rules = rules_from_config(
        "default", [{"name": "no-writes", "action": "block", "kind": "write"}]
    )
    ruleset = RuleSet(toy, rules)
    assert ruleset.evaluate("read x", ToyState()).action is Action.ALLOW
    assert ruleset.evaluate("destroy x", ToyState()).action is Action.HOLD
    verdict = ruleset.evaluate("write x", ToyState())
    assert (verdict.action, verdict.rule) == (Action.BLOCK, "no-writes")


def test_a_repeated_text_is_classified_once(toy: ToyClassifier) -> None:
    """The second evaluation of a text is the cached verdict, without classifying again."""
    ruleset = RuleSet(toy)
    first = ruleset.evaluate("read x", ToyState())
    assert ruleset.evaluate("read x", ToyState(strict=True)) is first
    assert toy.seen == ["read x"]


def test_a_changed_dependency_is_not_served_stale(toy: ToyClassifier) -> None:
    """A verdict that depended on the state is served only while the state has that value."""
    ruleset = RuleSet(toy)
    assert ruleset.evaluate("read ?", ToyState()).action is Action.ALLOW
    assert ruleset.evaluate("read ?", ToyState(strict=True)).action is Action.HOLD
    assert ruleset.evaluate("read ?", ToyState()).action is Action.ALLOW
    assert ruleset.evaluate("read ?", ToyState(strict=True)).action is Action.HOLD
    assert len(toy.seen) == 2


def test_inspect_keeps_the_classification_and_check_raises_on_block(toy: ToyClassifier) -> None:
    """inspect() returns the text's classification; check() turns a block into StatementBlocked;
    a rule set with no look-alike levels never calls a verdict general."""
    ruleset = RuleSet(toy)
    verdict, classification = ruleset.inspect("write x", ToyState())
    assert verdict.action is Action.ALLOW and classification.tables == ("t",)
    assert ruleset.evaluate_general("write x", ToyState()) == (verdict, False)
    with pytest.raises(StatementBlocked, match="default/server_escape"):
        ruleset.check("server_escape x", ToyState())


def test_a_full_cache_drops_the_least_recently_used_text(toy: ToyClassifier) -> None:
    """Past cache_size texts, the one used longest ago is classified again."""
    ruleset = RuleSet(toy, cache_size=2)
    for text in ("read a", "read b", "read a", "read c", "read a", "read b"):
        ruleset.evaluate(text, ToyState())
    assert toy.seen == ["read a", "read b", "read c", "read b"]


def test_a_classifier_that_raises_holds_the_text(toy: ToyClassifier) -> None:
    """A dialect's classifier failing on a text never allows it: the text is unknown, held."""
    ruleset = RuleSet(toy, rules_from_config("default", []))
    verdict = ruleset.evaluate("gibberish that the toy cannot read", ToyState())
    assert verdict.action is Action.HOLD
    assert Kind.UNKNOWN in verdict.kinds
    assert "could not classify (ValueError)" in verdict.reason


def test_parameter_bound_findings_are_voided_by_non_null_values() -> None:
    """evaluate_bound: a finding ``unless_bound`` {1} holds until $1 is bound non-NULL; any
    one of its sets is enough, and other findings stay."""
    pinned = Finding(Kind.WRITE_UNBOUNDED, "only if $1", unless_bound=(frozenset({1}),))
    ranged = Finding(Kind.WRITE_UNBOUNDED, "only if $2, $3", unless_bound=(frozenset({2, 3}),))
    statement = Statement("DELETE ...", "Delete", (Finding(Kind.WRITE, "DELETE"), pinned, ranged))

    def classify(text: str, state: ToyState) -> Classification:
        return Classification((statement,), literal_sensitive=True)

    rules = RuleSet(classify)
    assert rules.evaluate("x", ToyState()).action is Action.HOLD
    assert rules.evaluate_bound("x", ToyState(), frozenset()).action is Action.HOLD
    assert rules.evaluate_bound("x", ToyState(), frozenset({1})).action is Action.HOLD
    assert rules.evaluate_bound("x", ToyState(), frozenset({1, 2})).action is Action.HOLD
    assert rules.evaluate_bound("x", ToyState(), frozenset({1, 2, 3})).action is Action.ALLOW
    assert rules.evaluate("x", ToyState()).action is Action.HOLD  # the cache is untouched
