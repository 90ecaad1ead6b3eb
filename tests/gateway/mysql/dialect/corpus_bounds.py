"""Bounded writes: which WHERE clauses pin a column of the target (the write runs) and which
do not (held), each as a DELETE and as an UPDATE (``gateway.mysql.dialect.bounds``)."""

from __future__ import annotations

from tests.gateway.mysql.dialect.corpus import Case

__all__ = ["CASES", "PINNED", "UNBOUNDED"]

PINNED_WHERE = [
    "id = 1", "1 = id", "id = -1", "id = +1", "id = 1.5", "id = 'a'", "id = ''", "id = NULL",
    "id = ?", "? = id", "id = CAST(1 AS SIGNED)", "id = CAST('1' AS CHAR)", "id = 0x1F",
    "id = TRUE", "id <=> 1", "id <=> 'a'", "id IN (1)", "id IN (1, 2, 3)", "id IN ('a', 'b')",
    "id IN (?, ?)", "id BETWEEN 1 AND 5", "id BETWEEN 'a' AND 'b'", "id BETWEEN ? AND ?",
    "id >= 1 AND id < 5", "id < 5 AND id >= 1", "id > 1 AND id <= 9", "5 > id AND 1 < id",
    "id = 1 AND name LIKE '%x%'", "name LIKE '%x%' AND id = 1", "(id = 1)", "((id = 1))",
    "id = 1 AND (a = 2 OR b = 3)", "x.id = 1", "t.id = 1", "id = 1 AND id = 2",
    "created >= '2024-01-01' AND created < '2024-02-01'", "id = 1 AND 1 = 1",
]  # fmt: skip
UNBOUNDED_WHERE = [
    "1", "1 = 1", "TRUE", "NOT FALSE", "id", "id > 0", "id < 100", "id >= 1", "id <> 1",
    "id != 1", "NOT id = 1", "NOT (id <> 1)", "id IS NULL", "id IS NOT NULL", "id LIKE '1%'",
    "id = id", "id = id + 0", "id + 0 = 5", "ABS(id) = 5", "UPPER(name) = 'X'",
    "id = 1 OR 1 = 1", "id = 1 OR id = 2", "id = 1 OR TRUE", "id IN (SELECT id FROM u)",
    "EXISTS (SELECT 1 FROM u)", "id = (SELECT MAX(id) FROM u)", "id = @x", "id = @@x",
    "u.id = 1", "other.id = 1", "id <=> ?", "? <=> id", "name = 0", "name = 0.0", "name = -0",
    "name = FALSE", "name = 0e0", "name = 0x0", "name IN (0)", "name IN (1, 0)",
    "name BETWEEN -1 AND 1", "name BETWEEN 0 AND 10", "name >= 0 AND name < 10",
    "name > -5 AND name < 5", "name >= 1 AND name < 'z'", "id BETWEEN 1 AND id",
    "id IN (1, id)", "CASE WHEN id = 1 THEN 1 ELSE 1 END", "id = 1 XOR id = 2",
    "id = COALESCE(NULL, id)", "id = IF(1, id, 1)", "id = 1 || 1",
]  # fmt: skip


def _pairs(where: str, expect: str) -> list[Case]:
    aliased = "x." in where
    target = "t AS x" if aliased else "t"
    return [
        Case(f"DELETE FROM {target} WHERE {where}", expect),
        Case(f"UPDATE {target} SET a = 1 WHERE {where}", expect),
    ]


PINNED = [case for where in PINNED_WHERE for case in _pairs(where, "allow")]
UNBOUNDED = [case for where in UNBOUNDED_WHERE for case in _pairs(where, "hold")]
CASES = [*PINNED, *UNBOUNDED]
