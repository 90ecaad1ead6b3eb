"""count_plan: the side-effect-free count of what a DELETE / UPDATE / MERGE would touch, built
from the statement itself; refused (with the reason) whenever running it could do anything."""

from __future__ import annotations

import pytest

from gateway.postgres.dialect.count import count_plan


@pytest.mark.parametrize(
    ("sql", "count", "params"),
    [
        ("DELETE FROM orders WHERE id = +id", "SELECT count(*) FROM orders WHERE id = + id", ()),
        ("DELETE FROM orders", "SELECT count(*) FROM orders", ()),
        (
            "DELETE FROM ONLY orders WHERE id = 1",
            "SELECT count(*) FROM ONLY orders WHERE id = 1",
            (),
        ),
        (
            "DELETE FROM orders USING customers WHERE customers.id = 1",
            "SELECT count(*) FROM orders WHERE EXISTS "
            "(SELECT 1 FROM customers WHERE customers.id = 1)",
            (),
        ),
        (
            "UPDATE orders o SET note = $1 FROM customers c "
            "WHERE c.id = o.customer_id AND o.id = $2",
            "SELECT count(*) FROM orders AS o WHERE EXISTS "
            "(SELECT 1 FROM customers AS c WHERE c.id = o.customer_id AND o.id = $2)",
            (2,),
        ),
        (
            "MERGE INTO orders o USING (SELECT 1 AS one) s ON s.one = 1 WHEN MATCHED THEN DELETE",
            "SELECT count(*) FROM orders AS o WHERE EXISTS "
            "(SELECT 1 FROM (SELECT 1 AS one) AS s WHERE s.one = 1)",
            (),
        ),
        (
            "MERGE INTO orders o USING s ON o.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
            "SELECT count(*) FROM orders AS o",
            (),
        ),
        (
            "WITH x AS (SELECT 1 AS id) DELETE FROM orders USING x WHERE orders.id = x.id",
            "WITH x AS (SELECT 1 AS id) SELECT count(*) FROM orders WHERE EXISTS "
            "(SELECT 1 FROM x WHERE orders.id = x.id)",
            (),
        ),
        (
            "DELETE FROM orders WHERE id = coalesce($1, id) AND lower(status) = 'x'",
            "SELECT count(*) FROM orders WHERE id = COALESCE($1, id) AND lower(status) = 'x'",
            (1,),
        ),
    ],
)
def test_count_is_built_from_the_statement(sql: str, count: str, params: tuple[int, ...]) -> None:
    """Same target (ONLY kept), items and condition; each target row counted once; the
    parameters the count uses are named (the others are re-bound as NULL)."""
    plan = count_plan(sql, catalog_first=True)
    assert (plan.sql, plan.params) == (count, frozenset(params))


@pytest.mark.parametrize(
    ("sql", "note"),
    [
        ("DELETE FROM t WHERE random() < 0.5", "not counted: calls random()"),
        (
            "DELETE FROM t WHERE id = 1 AND clock_timestamp() > now()",
            "not counted: calls clock_timestamp()",
        ),
        ("DELETE FROM t WHERE side_effect(id)", "not counted: calls side_effect()"),
        ("DELETE FROM t WHERE public.lower(a) = 'x'", "not counted: calls public.lower()"),
        ("DELETE FROM t WHERE nextval('s') > 0", "not counted: calls nextval()"),
        ("DELETE FROM t WHERE id IN (SELECT pg_sleep(1)::int)", "not counted: calls pg_sleep()"),
        ("DELETE FROM t USING generate_series(1, f()) g WHERE t.id = g", "not counted: calls f()"),
        (
            "DELETE FROM t WHERE (t.c).nextval > 0",
            "not counted: calls nextval() (attribute notation)",
        ),
        ("DELETE FROM t WHERE id OPERATOR(public.===) 1", "not counted: uses operator public.==="),
        ("DELETE FROM t WHERE id = '1'::mydomain", "not counted: casts to type mydomain"),
        (
            "WITH d AS (DELETE FROM u RETURNING id) DELETE FROM t WHERE id IN (SELECT id FROM d)",
            "not counted: a data-modifying WITH",
        ),
        (
            "DELETE FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)",
            "not counted: a locking clause",
        ),
        ("DELETE FROM t WHERE id = 1; DELETE FROM u", "not counted: several statements"),
        ("INSERT INTO t VALUES (1)", "not counted: not a single DELETE, UPDATE or MERGE"),
        ("DELETE FROM", "not counted: the statement could not be read"),
    ],
)
def test_no_count_that_could_act(sql: str, note: str) -> None:
    """Volatile, user-defined, unknown, data-modifying or locking parts: no count is built."""
    plan = count_plan(sql, catalog_first=True)
    assert (plan.sql, plan.note) == (None, note)


def test_search_path_that_may_shadow_pg_catalog_is_not_counted() -> None:
    """With pg_catalog not first, an unqualified function or operator may be the user's."""
    plan = count_plan("DELETE FROM t WHERE lower(a) IS NULL", catalog_first=False)
    assert plan.note == "not counted: function lower may resolve outside pg_catalog (search_path)"
    plan = count_plan("DELETE FROM t WHERE a = 'x'", catalog_first=False)
    assert plan.note == "not counted: operator = may resolve outside pg_catalog (search_path)"


def test_current_of_is_one_row() -> None:
    """WHERE CURRENT OF touches the cursor's one row: known without a query."""
    plan = count_plan("UPDATE t SET a = 1 WHERE CURRENT OF c", catalog_first=True)
    assert (plan.sql, plan.rows) == (None, 1)
