"""Real names of the columns masking rules name, read from the upstream's catalog.

RowDescription carries each column's table OID and attribute number, which survive aliases,
subqueries and CTEs (``SELECT ssn AS x FROM t`` still reports t's OID and ssn's number). With
the map from those to (``schema.table``, column) a rule on ``ssn`` masks the aliased column
too; without it only the name as reported could match. Only columns whose name a rule mentions
are read, on the session's own upstream connection before the client's first message (one
round trip, on connections that mask only). It is read per session, not cached across them: a
table dropped and created again gets a new OID. A table the session creates itself is matched
by its reported names (and the detectors).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.postgres.dialect import CatalogNames
from gateway.postgres.upstream import Upstream, simple_query

__all__ = ["column_names"]

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
_QUERY = """SELECT a.attrelid::pg_catalog.int8, a.attnum::pg_catalog.int4,
  n.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname, a.attname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
  AND pg_catalog.lower(a.attname) OPERATOR(pg_catalog.=) ANY (ARRAY[{names}]::pg_catalog.text[])"""


async def column_names(up: Upstream, columns: Iterable[str]) -> CatalogNames | None:
    """(table OID, attribute number) -> (schema.table, column) for every column named like a
    rule's; None when no rule names a plain column (nothing to resolve)."""
    wanted = sorted({c.casefold() for c in columns if _PLAIN.fullmatch(c.casefold())})
    if not wanted:
        return None
    sql = _QUERY.format(names=", ".join(f"'{name}'" for name in wanted))
    names: dict[tuple[int, int], tuple[str, str]] = {}
    for row in await simple_query(up, sql):
        oid, attnum, table, column = row
        if oid is not None and attnum is not None and table is not None and column is not None:
            names[(int(oid), int(attnum))] = (table.decode(), column.decode())
    return names
