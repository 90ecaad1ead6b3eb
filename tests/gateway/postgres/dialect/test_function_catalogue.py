"""The function lists against the real server's catalogue (issue #17, class 4).

Every function name of pg_catalog is read from pg_proc on the local PostgreSQL, with whether
any of its forms is volatile (may have side effects) and whether PUBLIC may execute it (the
functions the server itself restricts: files, signals, backups, ...). The groups below are the
audit of that catalogue (PostgreSQL 15), kept here as the record of what was reviewed:

- ``SQL_TEXT``: functions that run a query given to them as text (or a cursor, or a whole
  table / schema / database through one): blocked in every spelling.
- ``SERVER_FILES``: functions that read or list the server's files or write them: blocked.
- ``SERVER_SETTINGS``: functions that read the server's configuration or internals: held.
- ``VOLATILE_BUT_HARMLESS``: volatile functions that stay allowed, each a read of the session,
  the clock, sizes or statistics, or an internal handler SQL cannot call.
- ``SESSION_EFFECTS``: pg_notify, which the default rules allow like NOTIFY (kind session).

A volatile or restricted function outside ``VOLATILE_BUT_HARMLESS`` is never allowed, however it
is spelled; a new PostgreSQL version's functions fail these tests until they are reviewed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from gateway.guardrails import Action
from gateway.postgres.dialect import Guardrails, SessionState
from gateway.postgres.dialect.catalog import FunctionClass, function_class, words
from tests.conftest import PG_ADMIN_DSN

SQL_TEXT = words(
    """
    query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml cursor_to_xmlschema
    table_to_xml table_to_xmlschema table_to_xml_and_xmlschema schema_to_xml schema_to_xmlschema
    schema_to_xml_and_xmlschema database_to_xml database_to_xmlschema
    database_to_xml_and_xmlschema ts_stat ts_rewrite
    """
)
# Extensions that run SQL text, in whatever schema they are installed: blocked by name.
SQL_TEXT_EXTENSIONS = words(
    """
    dblink dblink_exec dblink_open dblink_fetch dblink_send_query dblink_connect crosstab
    crosstab2 crosstab3 crosstab4 connectby xpath_table pg_background_launch
    """
)
SERVER_FILES = words(
    """
    pg_read_file pg_read_binary_file pg_read_file_old pg_stat_file pg_ls_dir pg_ls_logdir
    pg_ls_waldir pg_ls_tmpdir pg_ls_archive_statusdir pg_ls_logicalmapdir pg_ls_logicalsnapdir
    pg_ls_replslotdir pg_current_logfile lo_import lo_export
    """
)
SERVER_SETTINGS = words(
    """
    current_setting pg_show_all_settings pg_show_all_file_settings pg_hba_file_rules
    pg_ident_file_mappings pg_config pg_control_checkpoint pg_control_init pg_control_recovery
    pg_control_system pg_tablespace_location pg_get_backend_memory_contexts
    pg_get_shmem_allocations pg_show_replication_origin_status pg_stat_have_stats
    """
)
VOLATILE_BUT_HARMLESS = (
    # the clock, randomness, identifiers
    words("clock_timestamp timeofday random setseed gen_random_uuid")
    # the session's own query, sequences' current values, advisory locks it releases
    | words(
        """current_query currval lastval pg_sequence_last_value pg_advisory_unlock
        pg_advisory_unlock_all pg_advisory_unlock_shared"""
    )
    # sizes, WAL positions, recovery state, locks and transactions (monitoring reads)
    | words(
        """pg_database_size pg_indexes_size pg_relation_size pg_table_size pg_tablespace_size
        pg_total_relation_size pg_current_wal_flush_lsn pg_current_wal_insert_lsn
        pg_current_wal_lsn pg_last_wal_receive_lsn pg_last_wal_replay_lsn
        pg_last_xact_replay_timestamp pg_is_in_recovery pg_is_wal_replay_paused
        pg_get_wal_replay_pause_state pg_get_wal_resource_managers pg_jit_available
        pg_blocking_pids pg_safe_snapshot_blocking_pids pg_isolation_test_session_is_blocked
        pg_lock_status pg_prepared_xact pg_notification_queue_usage pg_last_committed_xact
        pg_xact_commit_timestamp pg_xact_commit_timestamp_origin pg_xact_status txid_status
        pg_get_multixact_members pg_partition_tree pg_partition_ancestors currtid2
        pg_collation_actual_version pg_database_collation_actual_version amvalidate"""
    )
    # the session's statistics snapshot and counters (clear_snapshot: issue #17, class 13)
    | words(
        """pg_stat_clear_snapshot pg_stat_force_next_flush pg_stat_get_recovery_prefetch
        pg_stat_get_xact_blocks_fetched pg_stat_get_xact_blocks_hit
        pg_stat_get_xact_function_calls pg_stat_get_xact_function_self_time
        pg_stat_get_xact_function_total_time pg_stat_get_xact_numscans
        pg_stat_get_xact_tuples_deleted pg_stat_get_xact_tuples_fetched
        pg_stat_get_xact_tuples_hot_updated pg_stat_get_xact_tuples_inserted
        pg_stat_get_xact_tuples_returned pg_stat_get_xact_tuples_updated"""
    )
    # TABLESAMPLE handlers: take an internal argument, so SQL cannot call them
    | words("bernoulli system")
)


SESSION_EFFECTS = frozenset(["pg_notify"])


@dataclass(frozen=True)
class Function:
    """One pg_catalog function name: any form volatile? any form not executable by PUBLIC?"""

    name: str
    volatile: bool
    restricted: bool
    runs_a_query: bool  # an argument named query, or a refcursor argument


_CATALOGUE = """
SELECT proname,
       bool_or(provolatile = 'v'),
       bool_or(NOT has_function_privilege('public', p.oid, 'EXECUTE')),
       bool_or('refcursor'::regtype = ANY (proargtypes::oid[])
               OR EXISTS (SELECT FROM unnest(proargnames, proargmodes) AS a(name, mode)
                          WHERE a.name = 'query' AND coalesce(a.mode, 'i') IN ('i', 'b', 'v')))
FROM pg_proc p
WHERE pronamespace = 'pg_catalog'::regnamespace
GROUP BY proname
"""


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Function]:
    """Every pg_catalog function name of the local server."""
    with psycopg.connect(PG_ADMIN_DSN) as conn:
        rows = conn.execute(_CATALOGUE).fetchall()
    return {row[0]: Function(*row) for row in rows}


def _spellings(name: str) -> Iterator[str]:
    quoted = f'"{name}"'
    yield f"SELECT pg_catalog.{quoted}()"
    yield f"SELECT {quoted}()"
    yield f"SELECT * FROM pg_catalog.{quoted}()"
    yield f"SELECT 1 FROM t WHERE {quoted}() IS NULL"


def _verdicts(name: str) -> set[Action]:
    guardrails = Guardrails()
    return {guardrails.evaluate(sql, SessionState()).action for sql in _spellings(name)}


def test_the_audit_matches_the_server(catalogue: dict[str, Function]) -> None:
    """Every audited name is a function of the server's pg_catalog, and each harmless volatile
    one is volatile indeed (the record stays true to the catalogue it was made from)."""
    audited = SQL_TEXT | SERVER_FILES | SERVER_SETTINGS | VOLATILE_BUT_HARMLESS | SESSION_EFFECTS
    assert sorted(audited - set(catalogue)) == []
    assert sorted(n for n in VOLATILE_BUT_HARMLESS if not catalogue[n].volatile) == []
    assert sorted(n for n in VOLATILE_BUT_HARMLESS if catalogue[n].restricted) == []


def test_every_query_taking_function_is_in_sql_text(catalogue: dict[str, Function]) -> None:
    """A function with an argument named ``query`` or a cursor argument is audited as running
    SQL text (the mechanical half of the audit: a new one fails here)."""
    taking = {f.name for f in catalogue.values() if f.runs_a_query}
    assert {"query_to_xml", "ts_stat", "cursor_to_xml"} <= taking
    assert sorted(taking - SQL_TEXT) == []


def test_every_volatile_or_restricted_function_is_listed(catalogue: dict[str, Function]) -> None:
    """No volatile or restricted pg_catalog function is left to the unlisted fallback (which
    allows a pg_catalog-qualified call as a stable built-in)."""
    unlisted = [
        f.name
        for f in catalogue.values()
        if (f.volatile or f.restricted) and function_class(f.name) is FunctionClass.USER
    ]
    assert sorted(unlisted) == []


def test_allowed_volatile_functions_are_the_audited_ones(catalogue: dict[str, Function]) -> None:
    """The allow list holds no volatile or restricted function but the audited harmless ones,
    and none that runs SQL text, reads server files or reads settings."""
    allowed = {n for n in catalogue if function_class(n) is FunctionClass.ALLOW}
    risky = {n for n in allowed if catalogue[n].volatile or catalogue[n].restricted}
    assert sorted(risky - VOLATILE_BUT_HARMLESS) == []
    assert sorted(allowed & (SQL_TEXT | SERVER_FILES | SERVER_SETTINGS)) == []


@pytest.mark.parametrize("name", sorted(SQL_TEXT | SQL_TEXT_EXTENSIONS | SERVER_FILES))
def test_sql_text_and_file_functions_are_blocked(name: str) -> None:
    """Functions that run SQL text or read server files are blocked in every spelling."""
    assert _verdicts(name) == {Action.BLOCK}


@pytest.mark.parametrize("name", sorted(SERVER_SETTINGS))
def test_settings_readers_are_held(name: str) -> None:
    """Functions that read the server's configuration are never allowed."""
    assert Action.ALLOW not in _verdicts(name)


def test_no_risky_catalog_function_runs_unreviewed(catalogue: dict[str, Function]) -> None:
    """Through the classifier, in every spelling: each volatile or restricted pg_catalog
    function outside the audited harmless ones is held or blocked."""
    allowed = [
        f.name
        for f in catalogue.values()
        if (f.volatile or f.restricted)
        and f.name not in VOLATILE_BUT_HARMLESS | SESSION_EFFECTS
        and Action.ALLOW in _verdicts(f.name)
    ]
    assert sorted(allowed) == []
    assert len(catalogue) > 2000, "the catalogue was not read"
