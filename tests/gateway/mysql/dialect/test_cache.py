"""The MySQL rule set's caches: exact text, then literal shape, never across what matters."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.guardrails import Action, Classification, rules_from_config
from gateway.mysql.dialect import Guardrails, MySQLState
from gateway.mysql.dialect.guardrails import lexed_shape, literal_shape, plain_shape


def _counting(guardrails: Guardrails) -> list[str]:
    calls: list[str] = []
    inner: Callable[[str, MySQLState], Classification] = guardrails.classify

    def counted(text: str, state: MySQLState) -> Classification:
        calls.append(text)
        return inner(text, state)

    guardrails.classify = counted
    return calls


def test_texts_with_other_literals_share_one_classification() -> None:
    """Point selects that differ only in literals are classified once."""
    guardrails = Guardrails()
    calls = _counting(guardrails)
    for n in range(5):
        verdict = guardrails.evaluate(
            f"SELECT * FROM t WHERE id = {n} AND s = 'x{n}'", MySQLState()
        )
        assert verdict.action is Action.ALLOW
    assert len(calls) == 1


def test_writes_are_never_shared_by_shape() -> None:
    """``DELETE ... WHERE name = 5`` runs, ``= 0`` is held: each write is classified."""
    guardrails = Guardrails()
    assert guardrails.evaluate("DELETE FROM t WHERE name = 5", MySQLState()).action is Action.ALLOW
    assert guardrails.evaluate("DELETE FROM t WHERE name = 0", MySQLState()).action is Action.HOLD


def test_no_shape_sharing_when_sql_mode_is_unknown_or_a_backslash_is_in_the_text() -> None:
    """A text that reads differently under another mode never borrows a plain one's verdict."""
    unknown = MySQLState().with_sql_mode(None)
    guardrails = Guardrails()
    assert guardrails.evaluate("SELECT 'x'", unknown).action is Action.ALLOW
    smuggled = "SELECT 'a\\'; DROP TABLE t; -- '"
    assert guardrails.evaluate(smuggled, unknown).action is Action.HOLD
    known = Guardrails()
    known.evaluate("SELECT 'x'", MySQLState())
    nbe = MySQLState().with_sql_mode("NO_BACKSLASH_ESCAPES")
    assert known.evaluate(smuggled, nbe).action is Action.HOLD


def test_a_regex_rule_turns_shapes_off() -> None:
    """With a regex rule, a literal decides: each text is judged on its own."""
    rules = rules_from_config("default", [{"name": "no-x", "action": "block", "regex": "secret"}])
    guardrails = Guardrails(rules)
    assert guardrails.evaluate("SELECT 'public'", MySQLState()).action is Action.ALLOW
    assert guardrails.evaluate("SELECT 'secret'", MySQLState()).action is Action.BLOCK


def test_literal_shape_replaces_literals_and_refuses_multi_statements() -> None:
    """Numbers and strings become ?, identifiers stay; two statements have no shape."""
    one = literal_shape("SELECT a FROM t WHERE id = 1", MySQLState())
    assert one == literal_shape("SELECT a FROM t WHERE id = 'z'", MySQLState())
    assert one != literal_shape("SELECT b FROM t WHERE id = 1", MySQLState())
    assert literal_shape("SELECT 1; SELECT 2", MySQLState()) is None
    assert literal_shape("SELECT a FROM t", MySQLState()) is None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(alphabet="SELCTab1e0x_$ '\"`\\;#-/*!@.?()=<>,:{}\n\t\u00a0é5", max_size=50),
        st.text(alphabet="SELCT ab1e0x_.$'=<>(),*+-\u00a0é5;?\n", max_size=50),
    ),
    st.sampled_from(["", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES"]),
)
def test_theplain_shape_is_the_lexer_s_shape(text: str, mode: str) -> None:
    """Where the one-regex shape answers, it is exactly the shape the lexer's tokens give."""
    plain = plain_shape(text)
    if plain is not None:
        assert plain == lexed_shape(text, MySQLState().with_sql_mode(mode))
