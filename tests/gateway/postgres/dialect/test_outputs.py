"""Which outputs derive from masked columns, from the parse tree (dialect.outputs)."""

from __future__ import annotations

import pytest

from gateway.postgres.dialect import Lineage, MaskingPolicy
from gateway.postgres.dialect.outputs import Derived, derived_outputs

COLUMNS, TABLES = frozenset({"ssn"}), frozenset({"customers"})
ALL = None  # every output without an origin


@pytest.mark.parametrize(
    ("sql", "source", "positions"),
    [
        # the masked column in an output expression: that output
        ("SELECT id, ssn || '' AS x FROM customers", "ssn", {1}),
        ("SELECT id, SSN, created_at::date FROM customers", "ssn", {1}),
        ("SELECT count(ssn) FROM customers", "ssn", {0}),
        ("SELECT customers.ssn || 'a' FROM customers", "ssn", {0}),
        ("SELECT (SELECT ssn FROM customers LIMIT 1)", "ssn", {0}),
        ("SELECT (SELECT count(*) FROM customers WHERE ssn = '1')", "ssn", {0}),
        ("UPDATE customers SET name = 'x' WHERE id = 1 RETURNING ssn || ''", "ssn", {0}),
        ("INSERT INTO customers (ssn) VALUES ('1') RETURNING ssn || ''", "ssn", {0}),
        # a whole row of a table with a masked column, by name or alias
        ("SELECT row_to_json(c) FROM customers c", "c", {0}),
        ("SELECT c FROM customers c", "c", {0}),
        ("SELECT to_json(customers) FROM customers", "customers", {0}),
        ("SELECT (customers).ssn FROM customers", "customers", {0}),
        ("UPDATE customers SET name = 'x' RETURNING customers", "customers", {0}),
        # a column alias list over a masked table or a join renames the masked column
        ("SELECT translate(s, '0', 'a') FROM customers AS c(a, b, s)", "s", {0}),
        ("SELECT id, upper(z) FROM (customers JOIN orders USING (id)) AS j(id, z)", "id", {0, 1}),
        # nested target lists, a star beside an expression, several statements: all
        ("SELECT x FROM (SELECT ssn || '' AS x FROM customers) s", "ssn", ALL),
        ("WITH w AS (SELECT upper(ssn) u FROM customers) SELECT u FROM w", "ssn", ALL),
        ("SELECT upper(ssn) FROM customers UNION SELECT 'a'", "ssn", ALL),
        ("SELECT *, upper(ssn) FROM customers", "ssn", ALL),
        ("SELECT s FROM (SELECT * FROM customers) s", "s", ALL),
        ("SELECT 1; SELECT upper(ssn) FROM customers", "ssn", ALL),
        # rows of a text seen earlier, or a text that does not parse: all
        ("EXECUTE p", "prepared statement", ALL),
        ("FETCH ALL FROM k", "cursor", ALL),
        ("garbage ((", "unparsed statement", ALL),
    ],
)
def test_derived(sql: str, source: str, positions: set[int] | None) -> None:
    """Each statement's outputs derive from the masked name at those positions."""
    expected = Derived(source, frozenset(positions) if positions is not None else None)
    assert derived_outputs(sql, COLUMNS, TABLES) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers",
        "SELECT t.* FROM customers t",
        "SELECT count(*) FROM customers",
        "SELECT count(*) FROM customers WHERE ssn = '078-05-1120'",
        "SELECT id FROM customers ORDER BY ssn",
        "SELECT id FROM customers UNION SELECT 1",
        "UPDATE customers SET name = ssn WHERE id = 1",
        "INSERT INTO customers (ssn) VALUES ('1') RETURNING id",
        "SELECT abalance FROM pgbench_accounts WHERE aid = 1",
        "SELECT c FROM other c",
    ],
)
def test_not_derived(sql: str) -> None:
    """Filtering, ordering, plain stars and SET lists carry no masked value into an output
    without an origin."""
    assert derived_outputs(sql, COLUMNS, TABLES) is None


def test_lineage_reads_unicode_escaped_identifiers() -> None:
    """A session's Lineage parses a text whose names are spelled as U& escapes (no masked
    name appears in it as written), and finds the masked column behind them."""
    lineage = Lineage(MaskingPolicy(columns=["ssn"]), {(1, 3): ("public.customers", "ssn")})
    sql = "SELECT translate(U&\"\\0073sn\", '0', 'a') FROM U&\"\\0063ustomers\""
    assert lineage.of(sql) == ("ssn", frozenset({0}))
    assert lineage.of("SELECT id FROM orders") is None
