"""SessionState: search_path parsing, pg_catalog order, and the effects of statements."""

from __future__ import annotations

import pytest

from gateway.guardrails import Kind
from gateway.postgres.dialect import SessionState, classify, parse_search_path

STATE = SessionState()


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ('"$user", public', ("$user", "public")),
        ('"My Schema", PG_CATALOG', ("My Schema", "pg_catalog")),
        ('a,"b,c" , d', ("a", "b,c", "d")),
        ("", ()),
    ],
)
def test_parse_search_path(value: str, parsed: tuple[str, ...]) -> None:
    """search_path text splits like the server's: quoted names keep case and commas."""
    assert parse_search_path(value) == parsed


@pytest.mark.parametrize(
    ("path", "first"),
    [
        (("$user", "public"), True),
        (("pg_catalog", "public"), True),
        (("pg_temp", "pg_catalog", "public"), True),
        (("public", "pg_catalog"), False),
        (("$user", "pg_catalog"), False),
        (None, False),
    ],
)
def test_catalog_first(path: tuple[str, ...] | None, first: bool) -> None:
    """pg_catalog is searched first unless listed after a schema other than pg_temp."""
    assert SessionState(search_path=path).catalog_first is first


def _after(sql: str, state: SessionState = STATE) -> SessionState:
    return state.apply(classify(sql, state))


def test_set_search_path_effect() -> None:
    """SET search_path changes the path; RESET returns to the default."""
    changed = _after("SET search_path = app, pg_catalog")
    assert changed.search_path == ("app", "pg_catalog")
    assert not changed.catalog_first
    assert _after("RESET search_path", changed).search_path == STATE.default_search_path


def test_set_local_search_path_is_applied_only_when_stricter() -> None:
    """SET LOCAL reverts at commit, so only a change to a riskier path is remembered."""
    assert _after("SET LOCAL search_path = app").search_path == STATE.search_path
    assert _after("SET LOCAL search_path = app, pg_catalog").search_path == ("app", "pg_catalog")


def test_set_config_of_unknown_setting_forgets_search_path() -> None:
    """set_config with a computed name may change search_path: it becomes unknown."""
    assert _after("SELECT set_config(k, v, false) FROM s").search_path is None
    assert _after("SELECT set_config('search_path', 'x', false)").search_path == ("x",)


def test_standard_conforming_strings_effects() -> None:
    """SET to off is remembered; SET LOCAL on while off is not; RESET waits for ParameterStatus."""
    off = _after("SET standard_conforming_strings = off")
    assert off.standard_conforming_strings is False
    assert (
        _after("SET LOCAL standard_conforming_strings = on", off).standard_conforming_strings
        is False
    )
    assert _after("SET standard_conforming_strings = on", off).standard_conforming_strings is True
    assert _after("RESET standard_conforming_strings", off).standard_conforming_strings is False


def test_role_effects() -> None:
    """SET ROLE and SET SESSION AUTHORIZATION record the role; RESET clears it."""
    assert _after("SET ROLE admin").role == "admin"
    assert _after("SET SESSION AUTHORIZATION bob").role == "bob"
    assert _after("RESET ROLE", _after("SET ROLE admin")).role is None


def test_prepare_and_deallocate_effects() -> None:
    """PREPARE records the body's classification; DEALLOCATE forgets it, ALL forgets all."""
    state = _after("PREPARE p AS DELETE FROM t; PREPARE q AS SELECT 1")
    assert Kind.WRITE_UNBOUNDED in state.prepared["p"].kinds
    assert set(state.prepared) == {"p", "q"}
    assert set(_after("DEALLOCATE p", state).prepared) == {"q"}
    assert _after("DEALLOCATE ALL", state).prepared == {}


def test_discard_all_and_reset_all_effects() -> None:
    """DISCARD ALL forgets prepared statements, role and path; RESET ALL resets the path."""
    state = _after("PREPARE p AS SELECT 1; SET ROLE admin; SET search_path = x")
    discarded = _after("DISCARD ALL", state)
    assert (discarded.prepared, discarded.role) == ({}, None)
    assert discarded.search_path == STATE.default_search_path
    assert _after("RESET ALL", state).search_path == STATE.default_search_path


def test_with_and_without_prepared_for_the_extended_protocol() -> None:
    """Parse/Close of named statements update the same namespace as SQL PREPARE."""
    state = STATE.with_prepared("s1", classify("SELECT 1", STATE))
    assert "s1" in state.prepared
    assert state.without_prepared("s1").prepared == {}
    assert state.without_prepared(None).prepared == {}
    assert STATE.prepared == {}


def test_state_is_frozen_and_comparable() -> None:
    """SessionState is a frozen value: equal states compare equal, fields cannot be set."""
    assert SessionState() == SessionState()
    with pytest.raises(AttributeError):
        STATE.role = "x"  # type: ignore[misc]


def test_states_differing_in_prepared_statements_differ() -> None:
    """Prepared statements are part of a state's value, and states stay hashable."""
    prepared = STATE.with_prepared("p", classify("SELECT 1", STATE))
    assert prepared != STATE
    assert hash(prepared) == hash(STATE)
