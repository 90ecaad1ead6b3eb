"""Handlers for queries and expressions: SELECT and DML anywhere in a tree, tables, functions,
operators. Utility statements live in ``statements``."""

from __future__ import annotations

from typing import Any

from gateway.guardrails import Effect, Finding, Kind
from gateway.postgres.dialect.bounds import Evidence, Scope, evidence
from gateway.postgres.dialect.catalog import (
    ARGUMENT_SENSITIVE,
    BUILTIN_OPERATORS,
    ESCAPE_ROLES,
    READABLE_GUCS,
    SENSITIVE_CATALOGS,
    SESSION_GUCS,
    FunctionClass,
    function_class,
)
from gateway.postgres.dialect.context import Handler, Walk

__all__ = [
    "HANDLERS",
    "catalog_target",
    "check_operator",
    "const_string",
    "names_of",
    "option_on",
    "reference_function",
    "relation_name",
]

Node = dict[str, Any]


def names_of(items: list[Node]) -> list[str]:
    """``[{"String": {"sval": "a"}}, ...]`` → ``["a", ...]``."""
    return [item.get("String", {}).get("sval", "*") for item in items]


def const_string(wrapped: Node | None) -> str | None:
    """The text of a string constant (through casts), else None."""
    if not wrapped:
        return None
    cast = wrapped.get("TypeCast")
    if cast is not None:
        return const_string(cast.get("arg"))
    sval = wrapped.get("A_Const", {}).get("sval")
    return sval.get("sval", "") if isinstance(sval, dict) else None


_FALSE_WORDS = frozenset(["off", "false", "f", "no", "n", "0", "of", "fa", "fal", "fals"])


def option_on(arg: Node | None) -> bool:
    """Whether an option's value (a DefElem's ``arg``) is on, read as the server reads a
    boolean (``parse_bool``: on/off, true/false, yes/no, 1/0 and their unique prefixes). No
    value means on; a value this cannot read counts as on, the stricter reading for every
    option it is used on (EXPLAIN ANALYZE, VACUUM FULL, SECURITY DEFINER)."""
    if arg is None:
        return True
    text = arg.get("String", {}).get("sval")
    if text is None:
        text = const_string(arg)
    if text is not None:
        return str(text).strip().lower() not in _FALSE_WORDS
    if "Integer" in arg:
        return bool(arg["Integer"].get("ival", 0))
    if "Boolean" in arg:
        return bool(arg["Boolean"].get("boolval", False))
    const = arg.get("A_Const", {})
    if "ival" in const:
        return bool(const["ival"].get("ival", 0))
    if "boolval" in const:
        return bool(const["boolval"].get("boolval", False))
    return True


def relation_name(node: Node) -> str:
    schema, name = node.get("schemaname"), node.get("relname", "?")
    return f"{schema}.{name}" if schema else str(name)


def _range_var(walk: Walk, node: Node) -> None:
    walk.tables[relation_name(node)] = None
    if node.get("relname") in SENSITIVE_CATALOGS:
        walk.add(Kind.PRIVILEGE, f"reads credential or server catalog {node['relname']}")


def catalog_target(walk: Walk, relation: Node) -> None:
    """A write to a system catalog; UPDATE pg_settings is SET by another name."""
    name, schema = str(relation.get("relname", "")), relation.get("schemaname")
    if not name.startswith("pg_") or schema not in (None, "pg_catalog"):
        return
    walk.add(Kind.PRIVILEGE, f"writes system catalog {name}")
    if name == "pg_settings":
        walk.add(Kind.CONFIG, "UPDATE pg_settings changes settings")
        walk.effects.append(Effect("forget", "search_path"))


def reference_function(walk: Walk, names: list[str], why: str) -> None:
    """A function named (not called here) by DDL: triggers, event triggers, operators."""
    qualified = ".".join(names)
    walk.functions[qualified] = None
    if function_class(names[-1]) is FunctionClass.DENY:
        walk.add(Kind.SERVER_ESCAPE, f"{why} {qualified}", qualified)


def _func_call(walk: Walk, node: Node) -> None:
    names = names_of(node.get("funcname", []))
    bare = names[-1] if names else "?"
    schema = names[-2] if len(names) > 1 else None
    qualified = ".".join(names)
    walk.functions[qualified] = None
    kind = function_class(bare, len(node.get("args", ())))
    if bare in ARGUMENT_SENSITIVE:
        walk.shared.literal_sensitive = True
    if kind is FunctionClass.ALLOW:
        _builtin(walk, schema, bare, qualified)
    elif kind is FunctionClass.DENY:
        walk.add(Kind.SERVER_ESCAPE, f"function {qualified}", qualified)
    elif kind is FunctionClass.SETTINGS:
        _settings_read(walk, node, schema, qualified)
    elif kind is FunctionClass.CONFIG:
        _set_config(walk, node, qualified)
    elif kind is FunctionClass.REVIEW:
        walk.add(Kind.REVIEW, f"function {qualified}", qualified)
    elif kind is FunctionClass.SESSION:
        walk.add(Kind.SESSION, f"function {qualified}", qualified)
    elif schema != "pg_catalog":
        walk.add(Kind.PROCEDURAL, f"user function {qualified}", qualified)
    # else: a pg_catalog-qualified function on none of the lists is a stable or immutable
    # built-in (only a superuser can create functions in pg_catalog, and every volatile or
    # restricted one is listed); psql's \d and drivers' catalog queries use many.
    walk.children("FuncCall", node, skip=("funcname",))


def _settings_read(walk: Walk, node: Node, schema: str | None, qualified: str) -> None:
    """current_setting of a setting in READABLE_GUCS is a read; every other reader of the
    server's configuration or internals (another setting, a computed name) is held."""
    args = node.get("args", [])
    if qualified.rsplit(".", 1)[-1] == "current_setting" and args:
        walk.shared.literal_sensitive = True
        name = const_string(args[0])
        if name is not None and name.strip().lower() in READABLE_GUCS:
            _builtin(walk, schema, "current_setting", qualified)
            return
        setting = repr(name) if name is not None else "a computed name"
        walk.add(Kind.PRIVILEGE, f"current_setting of {setting} reads server configuration")
        return
    walk.add(Kind.PRIVILEGE, f"function {qualified} reads server configuration", qualified)


def _attribute_call(walk: Walk, name: str) -> None:
    """``(x).pg_read_file`` and ``t.col.nextval``: attribute notation calls ``name(x)`` when
    such a one-argument function exists (verified on PostgreSQL 15). Names on the deny, review
    and config lists are classified as calls; other names stay column names (a user function
    reached this way cannot be told from a column: see the package notes)."""
    kind = function_class(name)
    if kind is FunctionClass.ALLOW or kind is FunctionClass.USER:
        return
    walk.functions[name] = None
    if kind is FunctionClass.DENY:
        walk.add(Kind.SERVER_ESCAPE, f"function {name} (attribute notation)", name)
    elif kind is FunctionClass.REVIEW:
        walk.add(Kind.REVIEW, f"function {name} (attribute notation)", name)
    elif kind is FunctionClass.SESSION:
        walk.add(Kind.SESSION, f"function {name} (attribute notation)", name)
    elif kind is FunctionClass.SETTINGS:
        walk.add(Kind.PRIVILEGE, f"function {name} (attribute notation) reads settings", name)
    else:
        walk.add(Kind.CONFIG, f"function {name} (attribute notation)", name)


def _column_ref(walk: Walk, node: Node) -> None:
    fields = node.get("fields", ())
    if len(fields) > 1:
        for name in names_of(fields[1:]):
            _attribute_call(walk, name)


def _indirection(walk: Walk, node: Node) -> None:
    for item in node.get("indirection", ()):
        name = item.get("String", {}).get("sval") if type(item) is dict else None
        if name is not None:
            _attribute_call(walk, name)
    walk.children("A_Indirection", node)


def _builtin(walk: Walk, schema: str | None, bare: str, qualified: str) -> None:
    if schema == "pg_catalog":
        return
    if schema is None:
        walk.shared.depends.add("search_path")
        if walk.state.catalog_first:
            return
        detail = f"function {bare} may resolve outside pg_catalog (search_path)"
    else:
        detail = f"user function {qualified}"
    walk.add(Kind.PROCEDURAL, detail, qualified)


def _set_config(walk: Walk, node: Node, qualified: str) -> None:
    """set_config(name, value, is_local): config; role changes are privilege changes."""
    walk.shared.literal_sensitive = True
    args = node.get("args", [])
    guc = const_string(args[0]) if args else None
    value = const_string(args[1]) if len(args) > 1 else None
    name = guc.strip().lower() if guc is not None else None
    if name in SESSION_GUCS:
        walk.add(Kind.SESSION, f"set_config({guc})", qualified)
    else:
        walk.add(Kind.CONFIG, f"set_config({guc or '?'})", qualified)
    if name is None or name in ("role", "session_authorization"):
        walk.add(Kind.PRIVILEGE, f"set_config({guc or '?'}) may change the role", qualified)
        if value is not None and value.strip().lower() in ESCAPE_ROLES:
            walk.add(Kind.SERVER_ESCAPE, f"set_config to role {value}", qualified)
    # Unknown locality counts as SET LOCAL, which state updates apply only when stricter.
    local = not (len(args) > 2 and args[2].get("A_Const", {}).get("boolval") == {})
    if name is None:
        walk.effects.append(Effect("forget", "search_path"))
    elif value is None:
        walk.effects.append(Effect("forget", name))
    else:
        walk.effects.append(Effect("set", name, value, local=local))


def _a_expr(walk: Walk, node: Node) -> None:
    names = names_of(node.get("name", []))
    if names:
        check_operator(walk, names)
    walk.children("A_Expr", node, skip=("name",))


def check_operator(walk: Walk, names: list[str]) -> None:
    """A user-defined operator runs a user function, like a call does."""
    op, schema = names[-1], (names[-2] if len(names) > 1 else None)
    if op not in BUILTIN_OPERATORS or (schema is not None and schema != "pg_catalog"):
        walk.add(Kind.PROCEDURAL, f"user-defined operator {'.'.join(names)}")
    elif schema is None:
        walk.shared.depends.add("search_path")
        if not walk.state.catalog_first:
            walk.add(Kind.PROCEDURAL, f"operator {op} may resolve outside pg_catalog")


def _sort_by(walk: Walk, node: Node) -> None:
    if node.get("useOp"):
        check_operator(walk, names_of(node["useOp"]))
    walk.children("SortBy", node, skip=("useOp",))


def _table_sample(walk: Walk, node: Node) -> None:
    method = names_of(node.get("method", []))
    if method not in (["system"], ["bernoulli"], ["pg_catalog", "system"]):
        walk.add(Kind.PROCEDURAL, f"TABLESAMPLE method {'.'.join(method)}")
    walk.children("RangeTableSample", node, skip=("method",))


def _select(walk: Walk, node: Node) -> None:
    walk.add(Kind.READ, "SELECT")
    if node.get("intoClause") is not None:
        walk.add(Kind.WRITE, "SELECT INTO creates and fills a table")
        walk.add(Kind.DDL, "SELECT INTO creates a table")
    if node.get("lockingClause"):
        walk.add(Kind.ROW_LOCK, "SELECT ... FOR UPDATE/SHARE locks rows")
    walk.children("SelectStmt", node)


def _insert(walk: Walk, node: Node) -> None:
    relation = node.get("relation", {})
    walk.add(Kind.WRITE, f"INSERT into {relation_name(relation)}")
    catalog_target(walk, relation)
    values = node.get("selectStmt", {}).get("SelectStmt")
    if values is None or not _plain_values(values):
        walk.children("InsertStmt", node)
        return
    walk.add(Kind.READ, "SELECT")
    for row in values.get("valuesLists", ()):
        for item in row.get("List", {}).get("items", ()):
            if not _next_value(walk, item):
                walk.visit_node(item)
    walk.children("InsertStmt", node, skip=("selectStmt",))


_VALUES_KEYS = frozenset(["valuesLists", "limitOption", "op"])


def _plain_values(select: Node) -> bool:
    """``VALUES (...), (...)`` and nothing else (no ORDER BY, LIMIT, WITH, set operation)."""
    return (
        "valuesLists" in select
        and select.keys() <= _VALUES_KEYS
        and select.get("op", "SETOP_NONE") == "SETOP_NONE"
        and select.get("limitOption", "LIMIT_OPTION_DEFAULT") == "LIMIT_OPTION_DEFAULT"
    )


def _next_value(walk: Walk, item: Node) -> bool:
    """``nextval('seq')`` (or ``nextval('seq'::regclass)``) as a whole value of an INSERT's
    VALUES row: one value per row, as a serial column's default takes it; recorded and
    allowed when it resolves to pg_catalog. Anything else (a computed sequence name, a call
    inside an expression or a subquery, which can take any number) is left to the walk."""
    call = item.get("FuncCall") if type(item) is dict else None
    if call is None or set(call) - {"funcname", "args", "funcformat", "location"}:
        return False
    names = names_of(call.get("funcname", []))
    args = call.get("args", [])
    if names[-1:] != ["nextval"] or len(names) > 2 or len(args) != 1:
        return False
    if const_string(args[0]) is None or (len(names) == 2 and names[0] != "pg_catalog"):
        return False
    walk.shared.literal_sensitive = True
    qualified = ".".join(names)
    walk.functions[qualified] = None
    _builtin(walk, names[0] if len(names) == 2 else None, "nextval", qualified)
    return True


def _targets(relation: Node, others: bool) -> Scope:
    """How a condition names the target table: its alias, else its (schema and) name; alone
    when no other relation (USING / FROM item, MERGE source) is in scope."""
    alias = relation.get("alias")
    if alias:
        return Scope(str(alias.get("aliasname", "")), None, not others)
    schema = relation.get("schemaname")
    return Scope(str(relation.get("relname", "")), schema, not others)


def _unbounded(walk: Walk, what: str, proof: Evidence) -> None:
    """A write without positive evidence of a row filter: held (``unless_bound`` when bound
    non-NULL parameters would be the evidence; the Bind decides, see Classification.bound)."""
    # Never keyed by fingerprint: libpg_query's drops a constant-only WHERE entirely and
    # fingerprints ``id = $1`` like ``id = 5``, whose verdicts and reasons differ.
    walk.shared.literal_sensitive = True
    detail = f"{what}: {proof.why}"
    walk.findings[Finding(Kind.WRITE_UNBOUNDED, detail, unless_bound=proof.needs)] = None


def _update_or_delete(verb: str, typ: str, items: str) -> Handler:
    def handle(walk: Walk, node: Node) -> None:
        relation = node.get("relation", {})
        table = relation_name(relation)
        walk.add(Kind.WRITE, f"{verb} on {table}")
        catalog_target(walk, relation)
        scope = _targets(relation, bool(node.get(items)))
        where = node.get("whereClause")
        proof = evidence([where], scope)
        if where is None:
            walk.shared.literal_sensitive = True  # as in _unbounded
            walk.add(Kind.WRITE_UNBOUNDED, f"{verb} on {table}: no WHERE clause")
        elif not proof.filtered:
            _unbounded(walk, f"{verb} on {table}", proof)
        walk.children(typ, node)

    return handle


def _merge(walk: Walk, node: Node) -> None:
    """MERGE: the ON condition (with the source in scope) and each WHEN clause's own condition
    are the filter of its UPDATE / DELETE; WHEN NOT MATCHED BY SOURCE sees the target alone.
    WHEN NOT MATCHED THEN INSERT only inserts."""
    relation = node.get("relation", {})
    table = relation_name(relation)
    walk.add(Kind.WRITE, f"MERGE into {table}")
    catalog_target(walk, relation)
    for wrapped in node.get("mergeWhenClauses", []):
        clause = wrapped.get("MergeWhenClause", {})
        command = clause.get("commandType")
        if command not in ("CMD_DELETE", "CMD_UPDATE"):
            continue
        if clause.get("matchKind") == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE":
            proof = evidence([clause.get("condition")], _targets(relation, False))
        else:
            conditions = [node.get("joinCondition"), clause.get("condition")]
            proof = evidence(conditions, _targets(relation, True))
        if not proof.filtered:
            _unbounded(walk, f"MERGE ... {command.removeprefix('CMD_')} on {table}", proof)
    walk.children("MergeStmt", node)


HANDLERS: dict[str, Handler] = {
    "RangeVar": _range_var,
    "FuncCall": _func_call,
    "A_Expr": _a_expr,
    "SortBy": _sort_by,
    "ColumnRef": _column_ref,
    "A_Indirection": _indirection,
    "RangeTableSample": _table_sample,
    "SelectStmt": _select,
    "InsertStmt": _insert,
    "UpdateStmt": _update_or_delete("UPDATE", "UpdateStmt", "fromClause"),
    "DeleteStmt": _update_or_delete("DELETE", "DeleteStmt", "usingClause"),
    "MergeStmt": _merge,
}
