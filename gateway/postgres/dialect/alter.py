"""Handlers for ALTER statements that change what an object is called or how it behaves:
ALTER TABLE (and VIEW, INDEX, SEQUENCE, MATERIALIZED VIEW, FOREIGN TABLE, TYPE ... ATTRIBUTE)
sub-commands, ALTER DOMAIN, ALTER TEXT SEARCH CONFIGURATION, RENAME, ALTER TYPE ... VALUE.

Every ALTER TABLE sub-command libpg_query knows (PostgreSQL 13-18) is in one table,
``ALTER_TABLE``, by what it does to the data and to who may see it; one it does not know is
``unknown`` (held). Renames (RENAME, ALTER TYPE ... RENAME VALUE) are ``destroy``: every client
that used the old name loses the object, and a renamed column escapes rules bound to its name.
SET UNLOGGED is ``destroy`` (a crash empties the table; replicas never see it); SET LOGGED and
SET ACCESS METHOD rewrite the table under an exclusive lock (``lock``); ALTER COLUMN ...
RESTART / SET identity options change the values a sequence hands out (``review``, like setval).
DROP NOT NULL loosens a constraint and loses nothing (``ddl``).
"""

from __future__ import annotations

from typing import Any

from gateway.guardrails import Kind
from gateway.postgres.dialect.context import Handler, Walk
from gateway.postgres.dialect.expressions import catalog_target

__all__ = ["ALTER_TABLE", "HANDLERS"]

Node = dict[str, Any]
K = Kind


def _subcommands(kind: Kind, names: str) -> dict[str, Kind]:
    return {f"AT_{name}": kind for name in names.split()}


# Every ALTER TABLE sub-command of libpg_query (PostgreSQL 13-18), by what it does to the data
# and to who may see it. A sub-command not in the table is ``unknown`` (held): fail closed.
ALTER_TABLE: dict[str, Kind] = {
    **_subcommands(
        K.DDL,
        """AddColumn AddColumnToView CookedColumnDefault DropNotNull SetNotNull SetStatistics
        SetOptions ResetOptions SetStorage SetCompression AddIndex ReAddIndex AddConstraint
        ReAddConstraint ReAddDomainConstraint AlterConstraint ValidateConstraint
        AddIndexConstraint ReAddComment ClusterOn DropCluster DropOids AddInherit AddOf
        ReplicaIdentity AttachPartition AddIdentity ReAddStatistics ColumnDefault
        SetRelOptions ResetRelOptions ReplaceRelOptions""",
    ),
    **_subcommands(
        K.DESTROY,
        """DropColumn DropConstraint DropExpression SetExpression AlterColumnType SetUnLogged
        DropInherit DropOf DetachPartition DetachPartitionFinalize DropIdentity""",
    ),
    **_subcommands(
        K.PRIVILEGE,
        "ChangeOwner EnableRowSecurity DisableRowSecurity ForceRowSecurity NoForceRowSecurity",
    ),
    **_subcommands(
        K.PROCEDURAL,
        """EnableTrig EnableAlwaysTrig EnableReplicaTrig DisableTrig EnableTrigAll
        DisableTrigAll EnableTrigUser DisableTrigUser EnableRule EnableAlwaysRule
        EnableReplicaRule DisableRule""",
    ),
    **_subcommands(K.LOCK, "SetTableSpace SetAccessMethod SetLogged"),
    **_subcommands(K.REVIEW, "SetIdentity"),
    **_subcommands(K.SERVER_ESCAPE, "GenericOptions AlterColumnGenericOptions"),
}
# View options that decide whose rights apply and what a leaky function may see.
_PRIVILEGE_RELOPTIONS = frozenset(["security_barrier", "security_invoker", "check_option"])
_RELOPTIONS = frozenset(["AT_SetRelOptions", "AT_ResetRelOptions", "AT_ReplaceRelOptions"])


def _alter_table_cmd(walk: Walk, node: Node) -> None:
    subtype = str(node.get("subtype", "?"))
    label = f"ALTER ... {subtype.removeprefix('AT_')}"
    kind = ALTER_TABLE.get(subtype, Kind.UNKNOWN)
    if subtype == "AT_ColumnDefault" and node.get("def") is None:
        kind = Kind.DESTROY  # DROP DEFAULT: inserts that relied on it now fail or get NULL
    elif subtype in _RELOPTIONS and _option_names(node.get("def")) & _PRIVILEGE_RELOPTIONS:
        kind = Kind.PRIVILEGE
    if kind is Kind.DESTROY and node.get("name"):
        label += f" {node['name']}"
    walk.add(kind, label)
    walk.children("AlterTableCmd", node)


def _option_names(wrapped: Node | None) -> frozenset[str]:
    items = (wrapped or {}).get("List", {}).get("items", [])
    return frozenset(str(i.get("DefElem", {}).get("defname", "?")).lower() for i in items)


def _alter_table(walk: Walk, node: Node) -> None:
    walk.add(Kind.DDL, f"ALTER {str(node.get('objtype', '')).removeprefix('OBJECT_')}")
    catalog_target(walk, node.get("relation", {}))
    walk.children("AlterTableStmt", node)


def _alter_domain(walk: Walk, node: Node) -> None:
    # DROP CONSTRAINT (X) loses a check and DROP DEFAULT (T without a default) what inserts
    # relied on, as in ALTER TABLE; DROP NOT NULL (N) loosens a constraint and loses nothing.
    subtype = node.get("subtype")
    destroy = subtype == "X" or (subtype == "T" and node.get("def") is None)
    walk.add(Kind.DESTROY if destroy else Kind.DDL, "ALTER DOMAIN")
    walk.children("AlterDomainStmt", node)


def _alter_ts_config(walk: Walk, node: Node) -> None:
    destroy = node.get("kind") == "ALTER_TSCONFIG_DROP_MAPPING"
    walk.add(Kind.DESTROY if destroy else Kind.DDL, "ALTER TEXT SEARCH CONFIGURATION")
    walk.children("AlterTSConfigurationStmt", node)


def _rename(walk: Walk, node: Node) -> None:
    what = str(node.get("renameType", "OBJECT_?")).removeprefix("OBJECT_").replace("_", " ")
    if node.get("renameType") == "OBJECT_ROLE":
        walk.add(Kind.PRIVILEGE, "ALTER ROLE ... RENAME")
    else:
        walk.add(Kind.DESTROY, f"ALTER {what} ... RENAME: the old name disappears")
    walk.children("RenameStmt", node)


def _alter_enum(walk: Walk, node: Node) -> None:
    if node.get("oldVal") is not None:
        walk.add(Kind.DESTROY, "ALTER TYPE ... RENAME VALUE changes stored values' meaning")
    else:
        walk.add(Kind.DDL, "ALTER TYPE ... ADD VALUE")
    walk.children("AlterEnumStmt", node)


HANDLERS: dict[str, Handler] = {
    "AlterTableStmt": _alter_table,
    "AlterTableCmd": _alter_table_cmd,
    "AlterDomainStmt": _alter_domain,
    "AlterTSConfigurationStmt": _alter_ts_config,
    "RenameStmt": _rename,
    "AlterEnumStmt": _alter_enum,
}
