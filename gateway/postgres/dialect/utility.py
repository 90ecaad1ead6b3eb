"""Handlers for session, transaction and wrapper statements: SET/RESET, BEGIN/COMMIT, DISCARD,
LISTEN/NOTIFY, cursors, PREPARE/EXECUTE/DEALLOCATE, COPY and EXPLAIN.

EXPLAIN without ANALYZE plans but does not run its statement: it is a read, plus whatever the
planner might execute (functions: a user IMMUTABLE function can run during constant folding).
EXPLAIN ANALYZE runs the statement: it gets the statement's kinds. PREPARE gets its body's kinds
(so a dangerous body is held when prepared) and EXECUTE gets the kinds recorded for the name in
``SessionState.prepared``; an unknown name is ``unknown``.

A transaction is read-write unless said otherwise; a read-only lane is a read-only default
(``default_transaction_read_only`` on the upstream role or database), and whatever undoes it
is ``config`` (held) like the SET of that default: ``BEGIN`` / ``START TRANSACTION ... READ
WRITE``, ``SET TRANSACTION READ WRITE``, ``SET [LOCAL] transaction_read_only`` to anything but
a true value (or RESET / DEFAULT), ``SET SESSION CHARACTERISTICS``. Read by value:
``BEGIN READ ONLY`` and ``SET transaction_read_only = on`` only tighten, and run.

SHOW and ``current_setting`` read settings: those in ``catalog.READABLE_GUCS`` run; SHOW ALL
and any other setting (paths, commands, connection strings, custom settings that carry
application secrets) are ``privilege`` reads of the server's configuration, held.
"""

from __future__ import annotations

from typing import Any

from gateway.guardrails import Classification, Effect, Kind
from gateway.postgres.dialect.catalog import (
    ESCAPE_ROLES,
    READABLE_GUCS,
    SESSION_GUCS,
    TRANSACTION_GUCS,
)
from gateway.postgres.dialect.context import Handler, Walk
from gateway.postgres.dialect.expressions import (
    catalog_target,
    const_string,
    option_on,
    relation_name,
)

__all__ = ["HANDLERS"]

Node = dict[str, Any]

_TRACKED_GUCS = frozenset(["standard_conforming_strings", "search_path", "role"])
_IDENTITY_GUCS = frozenset(["role", "session_authorization"])
_PLANNER_KINDS = frozenset(
    [Kind.SERVER_ESCAPE, Kind.PROCEDURAL, Kind.REVIEW, Kind.UNKNOWN, Kind.AMBIGUOUS, Kind.CONFIG]
)
# parse_bool's true spellings (unique prefixes of true and yes, on, 1).
_TRUE_WORDS = frozenset(["t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"])


def _set_value(node: Node) -> str | None:
    """The value a VariableSetStmt sets, as text (None for RESET / DEFAULT / FROM CURRENT)."""
    if node.get("kind") != "VAR_SET_VALUE":
        return None
    values = []
    for arg in node.get("args", []):
        text = const_string(arg)
        if text is None:
            const = arg.get("A_Const", {})
            number = const.get("ival", const.get("fval"))
            text = str(next(iter(number.values()), 0)) if isinstance(number, dict) else "?"
        values.append(text)
    return ", ".join(values)


def _variable_set(walk: Walk, node: Node) -> None:
    kind = node.get("kind")
    name = str(node.get("name", "")).lower()
    local = bool(node.get("is_local"))
    walk.shared.literal_sensitive = True
    if kind == "VAR_RESET_ALL":
        # Back to the login role's own defaults (what connection pools send on release).
        walk.add(Kind.SESSION, "RESET ALL")
        walk.effects.append(Effect("reset_all"))
        return
    value = _set_value(node)
    verb = "RESET" if kind == "VAR_RESET" else "SET LOCAL" if local else "SET"
    if name in _IDENTITY_GUCS:
        walk.add(Kind.PRIVILEGE, f"{verb} {name} changes the session's identity")
        if value is not None and value.strip().lower() in ESCAPE_ROLES:
            walk.add(Kind.SERVER_ESCAPE, f"{verb} {name} to {value}")
    elif name in ("transaction", "transaction_read_only") and _read_write(node, value):
        walk.add(Kind.CONFIG, f"{verb} {name} may make the transaction read-write")
    elif name in TRANSACTION_GUCS:
        walk.add(Kind.TRANSACTION, f"{verb} {name}")
    elif name in SESSION_GUCS:
        walk.add(Kind.SESSION, f"{verb} {name}")
    else:
        walk.add(Kind.CONFIG, f"{verb} {name}")
    tracked = "role" if name in _IDENTITY_GUCS else name
    if tracked in _TRACKED_GUCS:
        if kind == "VAR_SET_CURRENT":
            walk.effects.append(Effect("forget", tracked))
        else:
            walk.effects.append(Effect("set", tracked, value, local=local))


def _read_write(node: Node, value: str | None) -> bool:
    """Whether a SET TRANSACTION / SET transaction_read_only may turn read-only off: every
    value that is not surely true does (RESET, DEFAULT, off, a value not read here)."""
    if node.get("name", "").lower() == "transaction":
        return _options_read_write(node.get("args", []))
    return value is None or value.strip().lower() not in _TRUE_WORDS


def _options_read_write(options: list[Node]) -> bool:
    """Whether transaction options (BEGIN, START TRANSACTION, SET TRANSACTION) hold a
    transaction_read_only that is not surely on (READ WRITE is ``0``)."""
    for wrapped in options:
        option = wrapped.get("DefElem", {})
        if option.get("defname") != "transaction_read_only":
            continue
        arg = option.get("arg") or {}
        number = arg.get("A_Const", {}).get("ival")
        if not (isinstance(number, dict) and number.get("ival") == 1):
            return True
    return False


def _show(walk: Walk, node: Node) -> None:
    name = str(node.get("name", "")).lower()
    if name in READABLE_GUCS:
        walk.add(Kind.READ, f"SHOW {name}")
    else:
        what = "every setting" if name == "all" else f"setting {name}"
        walk.add(Kind.PRIVILEGE, f"SHOW {name} reads {what} of the server's configuration")


def _kinds_handler(typ: str, kind: Kind, label: str) -> Handler:
    def handle(walk: Walk, node: Node) -> None:
        walk.add(kind, label)
        walk.children(typ, node)

    return handle


def _transaction(walk: Walk, node: Node) -> None:
    kind = str(node.get("kind", "?"))
    label = kind.removeprefix("TRANS_STMT_").replace("_", " ")
    walk.add(Kind.TRANSACTION, label)
    if _options_read_write(node.get("options", [])):
        walk.add(Kind.CONFIG, f"{label} READ WRITE undoes a read-only default")
    if kind in ("TRANS_STMT_PREPARE", "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"):
        walk.add(Kind.LOCK, f"two-phase commit: {label}")
    walk.children("TransactionStmt", node)


def _discard(walk: Walk, node: Node) -> None:
    target = str(node.get("target", "?")).removeprefix("DISCARD_")
    walk.add(Kind.SESSION, f"DISCARD {target}")
    if target == "ALL":
        walk.add(Kind.CONFIG, "DISCARD ALL resets the role and every setting")
        walk.effects.append(Effect("discard_all"))


def _fetch(walk: Walk, node: Node) -> None:
    walk.add(Kind.SESSION if node.get("ismove") else Kind.READ, "FETCH/MOVE")


def _prepare(walk: Walk, node: Node) -> None:
    name = str(node.get("name", ""))
    body = walk.fork()
    body.visit_node(node.get("query"))
    walk.absorb(body)
    for finding in [f for f in walk.findings if f.unless_bound]:
        del walk.findings[finding]  # decided by EXECUTE's values (dialect.bounds)
    walk.add(Kind.SESSION, f"PREPARE {name}")
    prepared = Classification((body.statement("", "PREPARE body"),))
    walk.effects.append(Effect("prepare", name, prepared=prepared))
    walk.children("PrepareStmt", node, skip=("query",))


def _non_null(params: list[Node]) -> frozenset[int]:
    """EXECUTE's arguments that are non-NULL literals (or casts of one), by position."""
    found = set()
    for index, param in enumerate(params, start=1):
        value = param
        while "TypeCast" in value:
            value = value["TypeCast"].get("arg", {})
        const = value.get("A_Const")
        if const is not None and not const.get("isnull"):
            found.add(index)
    return frozenset(found)


def _execute(walk: Walk, node: Node) -> None:
    name = str(node.get("name", ""))
    walk.shared.literal_sensitive = True
    walk.shared.depends.add(f"prepared:{name}")
    walk.add(Kind.SESSION, f"EXECUTE {name}")
    prepared = walk.state.prepared.get(name)
    if prepared is None:
        walk.add(Kind.UNKNOWN, f"EXECUTE of unknown prepared statement {name!r}")
    else:
        prepared = prepared.bound(_non_null(node.get("params", ())))
        for statement in prepared.statements:
            walk.findings.update(dict.fromkeys(statement.findings))
            walk.tables.update(dict.fromkeys(statement.tables))
            walk.functions.update(dict.fromkeys(statement.functions))
    walk.children("ExecuteStmt", node)


def _deallocate(walk: Walk, node: Node) -> None:
    name = None if node.get("isall") else str(node.get("name", ""))
    walk.add(Kind.SESSION, f"DEALLOCATE {name or 'ALL'}")
    walk.effects.append(Effect("deallocate", name))


def _copy(walk: Walk, node: Node) -> None:
    relation = node.get("relation")
    target = relation_name(relation) if relation else "(query)"
    direction = "FROM" if node.get("is_from") else "TO"
    if node.get("is_program"):
        walk.add(Kind.SERVER_ESCAPE, f"COPY {target} {direction} PROGRAM")
    elif node.get("filename") is not None:
        walk.add(Kind.SERVER_ESCAPE, f"COPY {target} {direction} a server file")
    elif node.get("is_from"):
        walk.add(Kind.WRITE, f"COPY {target} FROM STDIN")
        if relation:
            catalog_target(walk, relation)
    else:
        walk.add(Kind.READ, f"COPY {target} TO STDOUT")
    walk.children("CopyStmt", node)


def _explain_analyze(options: list[Node]) -> bool:
    """Whether any ANALYZE option is on (an unreadable value counts as on)."""
    return any(
        option_on(option.get("arg"))
        for option in (w.get("DefElem", {}) for w in options)
        if option.get("defname") in ("analyze", "analyse")
    )


def _explain(walk: Walk, node: Node) -> None:
    walk.shared.literal_sensitive = True
    if _explain_analyze(node.get("options", [])):
        walk.add(Kind.READ, "EXPLAIN ANALYZE runs the statement")
        walk.visit_node(node.get("query"))
    else:
        walk.add(Kind.READ, "EXPLAIN")
        plan = walk.fork()
        plan.visit_node(node.get("query"))
        walk.absorb(plan, _PLANNER_KINDS)
    walk.children("ExplainStmt", node, skip=("query",))


HANDLERS: dict[str, Handler] = {
    "VariableSetStmt": _variable_set,
    "VariableShowStmt": _show,
    "TransactionStmt": _transaction,
    "ConstraintsSetStmt": _kinds_handler("ConstraintsSetStmt", Kind.TRANSACTION, "SET CONSTRAINTS"),
    "DiscardStmt": _discard,
    "ListenStmt": _kinds_handler("ListenStmt", Kind.SESSION, "LISTEN"),
    "UnlistenStmt": _kinds_handler("UnlistenStmt", Kind.SESSION, "UNLISTEN"),
    "NotifyStmt": _kinds_handler("NotifyStmt", Kind.SESSION, "NOTIFY"),
    "DeclareCursorStmt": _kinds_handler("DeclareCursorStmt", Kind.SESSION, "DECLARE CURSOR"),
    "ClosePortalStmt": _kinds_handler("ClosePortalStmt", Kind.SESSION, "CLOSE"),
    "FetchStmt": _fetch,
    "PrepareStmt": _prepare,
    "ExecuteStmt": _execute,
    "DeallocateStmt": _deallocate,
    "CopyStmt": _copy,
    "ExplainStmt": _explain,
}
