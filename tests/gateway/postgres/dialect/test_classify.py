"""classify(): kinds with reasons, tables, functions, statement texts and dependencies."""

from __future__ import annotations

import pytest

from gateway.guardrails import Kind
from gateway.postgres.dialect import SessionState, classify
from gateway.postgres.dialect.classify import HANDLERS
from gateway.postgres.dialect.context import Shared, Walk

STATE = SessionState()
K = Kind


@pytest.mark.parametrize(
    ("sql", "kinds"),
    [
        ("SELECT 1", {K.READ}),
        ("INSERT INTO t DEFAULT VALUES", {K.WRITE}),
        ("INSERT INTO t VALUES (1)", {K.READ, K.WRITE}),
        ("DELETE FROM t", {K.WRITE, K.WRITE_UNBOUNDED}),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT 1", {K.READ, K.WRITE, K.WRITE_UNBOUNDED}),
        ("SELECT * FROM t FOR UPDATE", {K.READ, K.ROW_LOCK}),
        ("SELECT * INTO x FROM t", {K.READ, K.WRITE, K.DDL}),
        ("CREATE TABLE x AS SELECT 1", {K.READ, K.WRITE, K.DDL}),
        ("COPY t TO STDOUT", {K.READ}),
        ("COPY t FROM STDIN", {K.WRITE}),
        ("COPY t FROM '/x'", {K.SERVER_ESCAPE}),
        ("EXPLAIN DELETE FROM t", {K.READ}),
        ("EXPLAIN ANALYZE DELETE FROM t", {K.READ, K.WRITE, K.WRITE_UNBOUNDED}),
        ("DROP TABLE t CASCADE", {K.DESTROY}),
        ("ALTER TABLE t ADD COLUMN c int", {K.DDL}),
        ("GRANT SELECT ON t TO bob", {K.PRIVILEGE}),
        ("SET ROLE bob", {K.PRIVILEGE}),
        ("SET work_mem = '1GB'", {K.CONFIG}),
        ("ALTER SYSTEM SET x = 1", {K.CONFIG, K.SERVER_ESCAPE}),
        ("BEGIN", {K.TRANSACTION}),
        ("LISTEN x", {K.SESSION}),
        ("DO $$ BEGIN END $$", {K.PROCEDURAL}),
        ("SELECT pg_sleep(1)", {K.READ, K.REVIEW}),
        ("LOCK TABLE t", {K.LOCK}),
        ("SELEC 1", {K.UNKNOWN}),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            {K.WRITE, K.WRITE_UNBOUNDED},
        ),
        ("MERGE INTO t USING s ON t.id = s.id AND t.id = 1 WHEN MATCHED THEN DELETE", {K.WRITE}),
    ],
)
def test_kinds(sql: str, kinds: set[Kind]) -> None:
    """Each statement gets the kinds of everything it does, wherever in the tree."""
    assert classify(sql, STATE).kinds == kinds


def test_every_statement_of_a_text_is_classified_with_its_own_text() -> None:
    """Statements keep their own source text (UTF-8 offsets), command and kinds."""
    result = classify("SELECT 'é'; DROP TABLE t; -- bye", STATE)
    assert [s.text for s in result.statements] == ["SELECT 'é'", "DROP TABLE t"]
    assert [s.command for s in result.statements] == ["Select", "Drop"]
    assert [s.kinds for s in result.statements] == [{K.READ}, {K.DESTROY}]


def test_tables_and_functions_are_collected() -> None:
    """Tables (schema-qualified when written so) and called functions are listed."""
    result = classify(
        "SELECT lower(a.x), public.f(1) FROM s.a JOIN b ON true WHERE b.y IN (SELECT y FROM c)",
        STATE,
    )
    assert result.tables == ("s.a", "b", "c")
    assert result.functions == ("lower", "public.f")


def test_findings_explain_each_kind() -> None:
    """Findings say why: the function, the table and the missing WHERE."""
    result = classify("DELETE FROM orders RETURNING pg_read_file('x')", STATE)
    details = {(f.kind, f.detail, f.function) for f in result.statements[0].findings}
    assert (K.WRITE_UNBOUNDED, "DELETE on orders: no WHERE clause", None) in details
    assert (K.SERVER_ESCAPE, "function pg_read_file", "pg_read_file") in details


def test_dependencies_are_recorded() -> None:
    """The classification names the state it depended on, for the cache key."""
    assert classify("SELECT 1", STATE).depends_on == frozenset()
    assert classify("SELECT lower('x')", STATE).depends_on == {"search_path"}
    assert classify("SELECT E'\\n'", STATE).depends_on == {"standard_conforming_strings"}
    assert classify("EXECUTE p", STATE).depends_on == {"prepared:p"}


def test_literal_sensitivity() -> None:
    """A verdict decided by a literal is marked; a plain read is not."""
    assert not classify("SELECT * FROM t WHERE id = 1", STATE).literal_sensitive
    assert not classify("DELETE FROM t WHERE id = 1", STATE).literal_sensitive
    assert classify("DELETE FROM t WHERE id IS NOT DISTINCT FROM $1", STATE).literal_sensitive
    assert classify("SET search_path = x", STATE).literal_sensitive


def test_unknown_node_type_is_unknown() -> None:
    """A node the walker does not know becomes an unknown finding (fail closed)."""
    walk = Walk(STATE, HANDLERS, Shared(set()))
    walk.visit("FutureStmt", {"x": 1})
    walk.visit_node({"A": {}, "B": {}})
    walk.visit_node("not a node")
    assert {f.kind for f in walk.findings} == {K.UNKNOWN}
    assert len(walk.findings) == 2


def test_planner_only_nodes_are_unknown() -> None:
    """Nodes that never appear in a raw parse tree are not trusted if they do."""
    walk = Walk(STATE, HANDLERS, Shared(set()))
    walk.visit("Query", {})
    walk.visit("FuncExpr", {})
    assert {f.detail for f in walk.findings} == {
        "unsupported syntax (Query)",
        "unsupported syntax (FuncExpr)",
    }


def test_state_effects_apply_to_later_statements_of_the_same_text() -> None:
    """A SET search_path earlier in the text governs name resolution after it."""
    result = classify("SET search_path = evil, pg_catalog; SELECT lower('x')", STATE)
    assert K.PROCEDURAL in result.statements[1].kinds


def test_whole_text_is_lexed_with_the_incoming_state() -> None:
    """Turning standard_conforming_strings off inside a text does not change how it is lexed."""
    result = classify("SET standard_conforming_strings = off; SELECT 'a\\'", STATE)
    assert [s.kinds for s in result.statements] == [{K.CONFIG}, {K.READ}]


def test_classify_never_raises_on_deep_nesting() -> None:
    """Nesting deeper than the walker's recursion budget is unknown, not an exception."""
    sql = "SELECT " + "lower(" * 5000 + "'x'" + ")" * 5000
    assert classify(sql, STATE).kinds == {K.UNKNOWN}


def test_empty_text_has_no_statements() -> None:
    """An empty or comment-only text is no statement at all."""
    assert classify(" -- nothing\n", STATE).statements == ()


PLANNER_ONLY = {
    "Aggref", "AlternativeSubPlan", "ArrayCoerceExpr", "ArrayExpr", "CallContext", "CaseTestExpr",
    "CoerceToDomain", "CoerceToDomainValue", "CoerceViaIO", "CollateExpr", "ConvertRowtypeExpr",
    "FieldSelect", "FieldStore", "FromExpr", "FuncExpr", "InferenceElem", "InlineCodeBlock",
    "JsonConstructorExpr", "JsonExpr", "MergeAction", "OnConflictExpr", "OpExpr", "PLAssignStmt",
    "Param", "Query", "RTEPermissionInfo", "RangeTblEntry", "RangeTblFunction", "RangeTblRef",
    "RawStmt", "RelabelType", "ReturningExpr", "RowCompareExpr", "RowMarkClause",
    "ScalarArrayOpExpr", "SetOperationStmt", "SortGroupClause", "SubPlan", "SubscriptingRef",
    "TableFunc", "TableSampleClause", "TargetEntry", "ValUnion", "Var", "WindowClause",
    "WindowFunc", "WindowFuncRunCondition", "WithCheckOption",
}  # fmt: skip


def test_every_raw_parse_node_is_classified() -> None:
    """Each node libpg_query can produce is handled, neutral or a leaf (a new one fails here)."""
    import inspect

    import pglast.ast

    from gateway.postgres.dialect.context import LEAVES, NEUTRAL

    nodes = {
        name
        for name, cls in vars(pglast.ast).items()
        if inspect.isclass(cls)
        and issubclass(cls, pglast.ast.Node)
        and name not in ("Node", "Expr")
    }
    known = set(HANDLERS) | LEAVES | NEUTRAL
    assert nodes - known == PLANNER_ONLY


def test_attribute_notation_is_a_call() -> None:
    """``(x).pg_read_file`` calls pg_read_file(x): it is found like any call."""
    result = classify("SELECT (s.path).pg_read_file, s.n.nextval FROM s", STATE)
    assert {K.SERVER_ESCAPE, K.REVIEW} <= result.kinds
    assert set(result.functions) == {"pg_read_file", "nextval"}
