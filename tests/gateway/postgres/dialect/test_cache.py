"""The verdict cache: repeated statements cost a lookup, state changes are never served stale."""

from __future__ import annotations

import pytest

from gateway.guardrails import Action, Classification
from gateway.postgres.dialect import Guardrails, SessionState, classify
from gateway.postgres.dialect import guardrails as guardrails_module

STATE = SessionState()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every text the Guardrails had to classify (cache misses)."""
    seen: list[str] = []

    def counting(sql: str, state: SessionState) -> Classification:
        seen.append(sql)
        return classify(sql, state)

    monkeypatch.setattr(guardrails_module, "classify", counting)
    return seen


def test_repeated_statement_is_served_from_the_cache(calls: list[str]) -> None:
    """The second evaluation of the same text returns the same verdict without classifying."""
    guardrails = Guardrails()
    first = guardrails.evaluate("SELECT * FROM t JOIN u USING (id)", STATE)
    second = guardrails.evaluate("SELECT * FROM t JOIN u USING (id)", STATE)
    assert second is first
    assert calls == ["SELECT * FROM t JOIN u USING (id)"]


def test_standard_conforming_strings_change_is_not_served_stale(calls: list[str]) -> None:
    """A backslash literal allowed with standard_conforming_strings on is blocked once off."""
    guardrails = Guardrails()
    sql = "SELECT 'x\\' -- ' ; SELECT 'SMUGGLED'; --'"
    off = SessionState(standard_conforming_strings=False)
    assert guardrails.evaluate(sql, STATE).action is Action.ALLOW
    assert guardrails.evaluate(sql, off).action is Action.BLOCK
    assert guardrails.evaluate(sql, STATE).action is Action.ALLOW
    assert guardrails.evaluate(sql, off).action is Action.BLOCK
    assert len(calls) == 2


def test_text_without_backslash_ignores_standard_conforming_strings(calls: list[str]) -> None:
    """Without a backslash the verdict does not depend on the setting: one classification."""
    guardrails = Guardrails()
    guardrails.evaluate("SELECT 'plain'", STATE)
    guardrails.evaluate("SELECT 'plain'", SessionState(standard_conforming_strings=False))
    assert calls == ["SELECT 'plain'"]


def test_search_path_change_is_not_served_stale() -> None:
    """An unqualified builtin is allowed with pg_catalog first, held once it is not."""
    guardrails = Guardrails()
    shadowed = SessionState(search_path=("public", "pg_catalog"))
    assert guardrails.evaluate("SELECT lower('x')", STATE).action is Action.ALLOW
    assert guardrails.evaluate("SELECT lower('x')", shadowed).action is Action.HOLD
    assert guardrails.evaluate("SELECT lower('x')", STATE).action is Action.ALLOW


def test_search_path_only_matters_through_catalog_order(calls: list[str]) -> None:
    """Two paths that both search pg_catalog first share the cached verdict."""
    guardrails = Guardrails()
    guardrails.evaluate("SELECT lower('x')", STATE)
    guardrails.evaluate("SELECT lower('x')", SessionState(search_path=("app", "public")))
    assert len(calls) == 1


def test_prepared_statement_change_is_not_served_stale() -> None:
    """EXECUTE p follows what p is now: read, unbounded delete, or unknown."""
    guardrails = Guardrails()
    select = STATE.with_prepared("p", classify("SELECT 1", STATE))
    delete = STATE.with_prepared("p", classify("DELETE FROM t", STATE))
    assert guardrails.evaluate("EXECUTE p", select).action is Action.ALLOW
    assert guardrails.evaluate("EXECUTE p", delete).action is Action.HOLD
    assert guardrails.evaluate("EXECUTE p", STATE).action is Action.HOLD
    assert guardrails.evaluate("EXECUTE p", select).action is Action.ALLOW


def test_literal_variants_share_one_classification(calls: list[str]) -> None:
    """Statements differing only in constants are classified once (fingerprint key)."""
    guardrails = Guardrails()
    for n in range(5):
        assert guardrails.evaluate(f"SELECT * FROM t WHERE id = {n}", STATE).action is Action.ALLOW
    assert calls == ["SELECT * FROM t WHERE id = 0"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("DELETE FROM t WHERE false", "DELETE FROM t WHERE true", Action.HOLD),
        ("DELETE FROM t WHERE true", "DELETE FROM t WHERE false", Action.HOLD),
        ("DELETE FROM t", "DELETE FROM t WHERE false", Action.HOLD),
        ("DELETE FROM t WHERE id = 1", "DELETE FROM t WHERE id = $1", Action.ALLOW),
        (
            "DELETE FROM t WHERE id = 1",
            "DELETE FROM t WHERE id IS NOT DISTINCT FROM $1",
            Action.HOLD,
        ),
        ("DELETE FROM t WHERE id = 1", "DELETE FROM t WHERE id = 1::int", Action.ALLOW),
        ("DELETE FROM t WHERE x LIKE 'a%'", "DELETE FROM t WHERE x LIKE '%'", Action.HOLD),
        ("SELECT set_config('a.b', 'x', false)", "SELECT set_config('role', 'x', false)", None),
        ("EXECUTE p1", "EXECUTE p2", Action.ALLOW),
    ],
)
def test_literal_that_decides_is_never_keyed_by_fingerprint(
    first: str, second: str, expected: Action | None
) -> None:
    """When a constant or name decided the verdict, a look-alike gets its own verdict."""
    guardrails = Guardrails()
    state = STATE.with_prepared("p2", classify("SELECT 1", STATE))
    guardrails.evaluate(first, state)
    fresh = Guardrails().evaluate(second, state)
    assert guardrails.evaluate(second, state) == fresh
    if expected is not None:
        assert fresh.action is expected


def test_cache_is_bounded_and_keeps_recent_entries(calls: list[str]) -> None:
    """Past cache_size the least recently used text is dropped; recent ones stay."""
    guardrails = Guardrails(cache_size=2)
    guardrails.evaluate("SHOW a", STATE)
    guardrails.evaluate("SHOW b", STATE)
    guardrails.evaluate("SHOW a", STATE)
    guardrails.evaluate("SHOW c", STATE)
    calls.clear()
    guardrails.evaluate("SHOW a", STATE)
    guardrails.evaluate("SHOW b", STATE)
    assert calls == ["SHOW b"]


def test_long_texts_are_not_cached(calls: list[str]) -> None:
    """Texts longer than max_cached_text are classified every time."""
    guardrails = Guardrails(max_cached_text=10)
    guardrails.evaluate("SELECT 1 FROM long_table", STATE)
    guardrails.evaluate("SELECT 1 FROM long_table", STATE)
    assert len(calls) == 2


def test_regex_rules_disable_fingerprint_keys() -> None:
    """A custom regex sees literals, so look-alikes are judged on their own text."""
    guardrails = Guardrails.from_config(
        "default", [{"name": "no-id-7", "action": "block", "regex": r"id = 7\b"}]
    )
    assert guardrails.evaluate("SELECT * FROM t WHERE id = 1", STATE).action is Action.ALLOW
    verdict = guardrails.evaluate("SELECT * FROM t WHERE id = 7", STATE)
    assert (verdict.action, verdict.rule) == (Action.BLOCK, "no-id-7")


def test_clear_empties_the_cache(calls: list[str]) -> None:
    """clear() forgets every verdict."""
    guardrails = Guardrails()
    guardrails.evaluate("SELECT 1", STATE)
    guardrails.clear()
    guardrails.evaluate("SELECT 1", STATE)
    assert len(calls) == 2


def test_inspect_returns_the_classification_of_this_text(calls: list[str]) -> None:
    """inspect() gives verdict and classification, cached, never a look-alike's."""
    guardrails = Guardrails()
    guardrails.evaluate("SELECT * FROM t WHERE id = 1", STATE)
    verdict, classification = guardrails.inspect("SELECT * FROM t WHERE id = 2", STATE)
    assert verdict.action is Action.ALLOW
    assert classification.statements[0].text == "SELECT * FROM t WHERE id = 2"
    again = guardrails.inspect("SELECT * FROM t WHERE id = 2", STATE)
    assert again[1] is classification
    assert calls == ["SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 2"]
