"""Handlers for DDL, privilege and server-level statements.

Most statements have fixed kinds (``SIMPLE``); the rest look inside: DROP (what), GRANT (which
role), CREATE FUNCTION / DO (which language), VACUUM (FULL, by its value). ALTER TABLE, RENAME
and their kin are in ``alter``, whose handlers are merged in here.

Moves (SET SCHEMA) are ``destroy`` like renames: every client that used the old name loses the
object. ALTER SEQUENCE changes the values a sequence hands out, like setval: ``review``.
Every handler also walks the statement's children, so a function hidden in a DEFAULT, CHECK,
policy, index expression or rule action is still found.
"""

from __future__ import annotations

from typing import Any

from gateway.guardrails import Kind
from gateway.postgres.dialect import alter
from gateway.postgres.dialect.catalog import (
    ESCAPE_ROLES,
    TRUSTED_LANGUAGES,
    FunctionClass,
    function_class,
)
from gateway.postgres.dialect.context import Handler, Walk
from gateway.postgres.dialect.expressions import (
    names_of,
    option_on,
    reference_function,
)

__all__ = ["HANDLERS"]

Node = dict[str, Any]
K = Kind

SIMPLE: dict[str, tuple[tuple[Kind, ...], str]] = {
    "CreateStmt": ((K.DDL,), "CREATE TABLE"),
    "ViewStmt": ((K.DDL,), "CREATE VIEW"),
    "IndexStmt": ((K.DDL,), "CREATE INDEX"),
    "CreateSeqStmt": ((K.DDL,), "CREATE SEQUENCE"),
    "AlterSeqStmt": ((K.REVIEW,), "ALTER SEQUENCE changes the values it hands out"),
    "CreateDomainStmt": ((K.DDL,), "CREATE DOMAIN"),
    "CreateEnumStmt": ((K.DDL,), "CREATE TYPE AS ENUM"),
    "CompositeTypeStmt": ((K.DDL,), "CREATE TYPE"),
    "AlterTypeStmt": ((K.PROCEDURAL,), "ALTER TYPE ... SET (I/O functions)"),
    "CreateStatsStmt": ((K.DDL,), "CREATE STATISTICS"),
    "AlterStatsStmt": ((K.DDL,), "ALTER STATISTICS"),
    "CommentStmt": ((K.DDL,), "COMMENT"),
    "AlterCollationStmt": ((K.DDL,), "ALTER COLLATION"),
    "AlterDatabaseRefreshCollStmt": ((K.DDL,), "ALTER DATABASE REFRESH COLLATION"),
    "AlterObjectDependsStmt": ((K.DDL,), "ALTER ... DEPENDS ON EXTENSION"),
    "AlterObjectSchemaStmt": ((K.DESTROY,), "ALTER ... SET SCHEMA moves the object away"),
    "AlterTSDictionaryStmt": ((K.DDL,), "ALTER TEXT SEARCH DICTIONARY"),
    "CreateOpFamilyStmt": ((K.DDL,), "CREATE OPERATOR FAMILY"),
    "CreatedbStmt": ((K.DDL,), "CREATE DATABASE"),
    "RefreshMatViewStmt": ((K.WRITE,), "REFRESH MATERIALIZED VIEW"),
    "CreateTableAsStmt": ((K.WRITE, K.DDL), "CREATE TABLE AS"),
    "TruncateStmt": ((K.DESTROY,), "TRUNCATE"),
    "DropdbStmt": ((K.DESTROY,), "DROP DATABASE"),
    "DropTableSpaceStmt": ((K.DESTROY,), "DROP TABLESPACE"),
    "DropUserMappingStmt": ((K.DESTROY,), "DROP USER MAPPING"),
    "DropOwnedStmt": ((K.DESTROY, K.PRIVILEGE), "DROP OWNED"),
    "DropRoleStmt": ((K.DESTROY, K.PRIVILEGE), "DROP ROLE"),
    "GrantStmt": ((K.PRIVILEGE,), "GRANT/REVOKE"),
    "AlterRoleSetStmt": ((K.PRIVILEGE, K.CONFIG), "ALTER ROLE ... SET"),
    "ReassignOwnedStmt": ((K.PRIVILEGE,), "REASSIGN OWNED"),
    "AlterOwnerStmt": ((K.PRIVILEGE,), "ALTER ... OWNER TO"),
    "AlterDefaultPrivilegesStmt": ((K.PRIVILEGE,), "ALTER DEFAULT PRIVILEGES"),
    "CreatePolicyStmt": ((K.PRIVILEGE,), "CREATE POLICY"),
    "AlterPolicyStmt": ((K.PRIVILEGE,), "ALTER POLICY"),
    "SecLabelStmt": ((K.PRIVILEGE,), "SECURITY LABEL"),
    "AlterDatabaseSetStmt": ((K.CONFIG,), "ALTER DATABASE ... SET"),
    "AlterDatabaseStmt": ((K.CONFIG,), "ALTER DATABASE"),
    "AlterTableSpaceOptionsStmt": ((K.CONFIG,), "ALTER TABLESPACE"),
    "AlterSystemStmt": ((K.SERVER_ESCAPE, K.CONFIG), "ALTER SYSTEM"),
    "CreateExtensionStmt": ((K.SERVER_ESCAPE,), "CREATE EXTENSION"),
    "AlterExtensionStmt": ((K.SERVER_ESCAPE,), "ALTER EXTENSION"),
    "AlterExtensionContentsStmt": ((K.SERVER_ESCAPE,), "ALTER EXTENSION ADD/DROP"),
    "LoadStmt": ((K.SERVER_ESCAPE,), "LOAD"),
    "CreatePLangStmt": ((K.SERVER_ESCAPE,), "CREATE LANGUAGE"),
    "CreateAmStmt": ((K.SERVER_ESCAPE,), "CREATE ACCESS METHOD"),
    "CreateTableSpaceStmt": ((K.SERVER_ESCAPE,), "CREATE TABLESPACE (server directory)"),
    "CheckPointStmt": ((K.SERVER_ESCAPE,), "CHECKPOINT"),
    "CreateFdwStmt": ((K.SERVER_ESCAPE,), "CREATE FOREIGN DATA WRAPPER"),
    "AlterFdwStmt": ((K.SERVER_ESCAPE,), "ALTER FOREIGN DATA WRAPPER"),
    "CreateForeignServerStmt": ((K.SERVER_ESCAPE,), "CREATE SERVER"),
    "AlterForeignServerStmt": ((K.SERVER_ESCAPE,), "ALTER SERVER"),
    "CreateUserMappingStmt": ((K.SERVER_ESCAPE,), "CREATE USER MAPPING"),
    "AlterUserMappingStmt": ((K.SERVER_ESCAPE,), "ALTER USER MAPPING"),
    "CreateForeignTableStmt": ((K.SERVER_ESCAPE,), "CREATE FOREIGN TABLE"),
    "ImportForeignSchemaStmt": ((K.SERVER_ESCAPE,), "IMPORT FOREIGN SCHEMA"),
    "CreatePublicationStmt": ((K.SERVER_ESCAPE,), "CREATE PUBLICATION"),
    "AlterPublicationStmt": ((K.SERVER_ESCAPE,), "ALTER PUBLICATION"),
    "CreateSubscriptionStmt": ((K.SERVER_ESCAPE,), "CREATE SUBSCRIPTION"),
    "AlterSubscriptionStmt": ((K.SERVER_ESCAPE,), "ALTER SUBSCRIPTION"),
    "DropSubscriptionStmt": ((K.SERVER_ESCAPE, K.DESTROY), "DROP SUBSCRIPTION"),
    "CreateCastStmt": ((K.PROCEDURAL,), "CREATE CAST"),
    "CreateConversionStmt": ((K.PROCEDURAL,), "CREATE CONVERSION"),
    "CreateTransformStmt": ((K.PROCEDURAL,), "CREATE TRANSFORM"),
    "CreateOpClassStmt": ((K.PROCEDURAL,), "CREATE OPERATOR CLASS"),
    "AlterOpFamilyStmt": ((K.PROCEDURAL,), "ALTER OPERATOR FAMILY"),
    "AlterOperatorStmt": ((K.PROCEDURAL,), "ALTER OPERATOR"),
    "RuleStmt": ((K.PROCEDURAL, K.DDL), "CREATE RULE"),
    "CreateEventTrigStmt": ((K.PROCEDURAL, K.PRIVILEGE), "CREATE EVENT TRIGGER"),
    "AlterEventTrigStmt": ((K.PROCEDURAL, K.PRIVILEGE), "ALTER EVENT TRIGGER"),
    "LockStmt": ((K.LOCK,), "LOCK TABLE"),
    "ClusterStmt": ((K.LOCK,), "CLUSTER"),
    "ReindexStmt": ((K.LOCK,), "REINDEX"),
    "AlterTableMoveAllStmt": ((K.LOCK, K.DDL), "ALTER ... ALL IN TABLESPACE"),
}


def _simple(typ: str, kinds: tuple[Kind, ...], label: str) -> Handler:
    def handle(walk: Walk, node: Node) -> None:
        for kind in kinds:
            walk.add(kind, label)
        # ALTER SYSTEM / ROLE / DATABASE ... SET: the inlined SET does not change this session.
        walk.children(typ, node, skip=("setstmt",))

    return handle


_RELATION_OBJECTS = frozenset(
    [
        "OBJECT_TABLE",
        "OBJECT_VIEW",
        "OBJECT_MATVIEW",
        "OBJECT_INDEX",
        "OBJECT_SEQUENCE",
        "OBJECT_FOREIGN_TABLE",
    ]
)


def _drop(walk: Walk, node: Node) -> None:
    object_type = str(node.get("removeType", "OBJECT_?")).removeprefix("OBJECT_")
    names = []
    if node.get("removeType") in _RELATION_OBJECTS:
        for item in node.get("objects", []):
            name = ".".join(names_of(item.get("List", {}).get("items", [])))
            walk.tables[name] = None
            names.append(name)
    cascade = " CASCADE" if node.get("behavior") == "DROP_CASCADE" else ""
    walk.add(Kind.DESTROY, f"DROP {object_type.replace('_', ' ')} {', '.join(names)}{cascade}")
    if node.get("removeType") == "OBJECT_POLICY":
        walk.add(Kind.PRIVILEGE, "DROP POLICY")
    walk.children("DropStmt", node)


def _create_schema(walk: Walk, node: Node) -> None:
    walk.add(Kind.DDL, "CREATE SCHEMA")
    if node.get("authrole") is not None:
        walk.add(Kind.PRIVILEGE, "CREATE SCHEMA AUTHORIZATION")
    walk.children("CreateSchemaStmt", node)


def _grant(walk: Walk, node: Node) -> None:
    walk.add(Kind.PRIVILEGE, "GRANT" if node.get("is_grant") else "REVOKE")
    if node.get("objtype") in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
        for item in node.get("objects", []):
            names = names_of(item.get("ObjectWithArgs", {}).get("objname", []))
            if names and function_class(names[-1]) is FunctionClass.DENY:
                walk.add(Kind.SERVER_ESCAPE, f"GRANT EXECUTE on {'.'.join(names)}")
    walk.children("GrantStmt", node)


def _grant_role(walk: Walk, node: Node) -> None:
    walk.shared.literal_sensitive = True
    verb = "GRANT" if node.get("is_grant") else "REVOKE"
    roles = [r.get("AccessPriv", {}).get("priv_name", "?") for r in node.get("granted_roles", [])]
    walk.add(Kind.PRIVILEGE, f"{verb} role {', '.join(roles)}")
    for role in roles:
        if role in ESCAPE_ROLES and node.get("is_grant"):
            walk.add(Kind.SERVER_ESCAPE, f"GRANT {role}")
    walk.children("GrantRoleStmt", node)


def _role_names(options: list[Node], name: str) -> list[str]:
    """Role names in a CREATE/ALTER ROLE option such as IN ROLE (addroleto)."""
    for wrapped in options:
        option = wrapped.get("DefElem", {})
        if option.get("defname") == name:
            items = option.get("arg", {}).get("List", {}).get("items", [])
            return [str(i.get("RoleSpec", {}).get("rolename")) for i in items]
    return []


def _create_role(walk: Walk, node: Node) -> None:
    walk.add(Kind.PRIVILEGE, f"CREATE ROLE {node.get('role', '?')}")
    for role in _role_names(node.get("options", []), "addroleto"):
        if role in ESCAPE_ROLES:
            walk.add(Kind.SERVER_ESCAPE, f"CREATE ROLE ... IN ROLE {role}")
    walk.children("CreateRoleStmt", node)


def _alter_role(walk: Walk, node: Node) -> None:
    role = str(node.get("role", {}).get("rolename", "?"))
    walk.add(Kind.PRIVILEGE, f"ALTER ROLE {role}")
    adds = node.get("action") == 1 and _role_names(node.get("options", []), "rolemembers")
    if role in ESCAPE_ROLES and adds:
        walk.add(Kind.SERVER_ESCAPE, f"ALTER GROUP {role} ADD USER")
    walk.children("AlterRoleStmt", node)


def _create_range(walk: Walk, node: Node) -> None:
    functions = {"canonical", "subtype_diff"}
    if any(w.get("DefElem", {}).get("defname") in functions for w in node.get("params", [])):
        walk.add(Kind.PROCEDURAL, "CREATE TYPE AS RANGE with support functions")
    else:
        walk.add(Kind.DDL, "CREATE TYPE AS RANGE")
    walk.children("CreateRangeStmt", node)


def _language(options: list[Node], default: str) -> str:
    for wrapped in options:
        option = wrapped.get("DefElem", {})
        if option.get("defname") == "language":
            return str(option.get("arg", {}).get("String", {}).get("sval", "?")).lower()
    return default


def _option(options: list[Node], name: str) -> bool:
    """Whether an option is on, by its value: ``(FULL false)`` is off, a bare ``FULL`` on."""
    return any(
        option_on(option.get("arg"))
        for option in (w.get("DefElem", {}) for w in options)
        if option.get("defname") == name
    )


def _do(walk: Walk, node: Node) -> None:
    language = _language(node.get("args", []), "plpgsql")
    if language in TRUSTED_LANGUAGES:
        walk.add(Kind.PROCEDURAL, f"DO block ({language})")
    else:
        walk.add(Kind.SERVER_ESCAPE, f"DO block in untrusted language {language}")
    walk.children("DoStmt", node)


def _create_function(walk: Walk, node: Node) -> None:
    label = "CREATE PROCEDURE" if node.get("is_procedure") else "CREATE FUNCTION"
    options = node.get("options", [])
    language = _language(options, "sql")
    walk.add(Kind.PROCEDURAL, f"{label} {'.'.join(names_of(node.get('funcname', [])))}")
    walk.add(Kind.DDL, label)
    if language not in TRUSTED_LANGUAGES:
        walk.add(Kind.SERVER_ESCAPE, f"{label} in untrusted language {language}")
    if _option(options, "security"):
        walk.add(Kind.PRIVILEGE, f"{label} ... SECURITY DEFINER/INVOKER")
    walk.children("CreateFunctionStmt", node)


def _alter_function(walk: Walk, node: Node) -> None:
    walk.add(Kind.PROCEDURAL, "ALTER FUNCTION")
    if _option(node.get("actions", []), "security"):
        walk.add(Kind.PRIVILEGE, "ALTER FUNCTION ... SECURITY DEFINER/INVOKER")
    walk.children("AlterFunctionStmt", node)


def _call(walk: Walk, node: Node) -> None:
    funccall = node.get("funccall", {})
    walk.add(Kind.PROCEDURAL, f"CALL {'.'.join(names_of(funccall.get('funcname', [])))}")
    walk.visit("FuncCall", funccall)


def _create_trigger(walk: Walk, node: Node) -> None:
    names = names_of(node.get("funcname", []))
    walk.add(Kind.PROCEDURAL, f"CREATE TRIGGER executing {'.'.join(names)}")
    walk.add(Kind.DDL, "CREATE TRIGGER")
    reference_function(walk, names, "trigger executes")
    walk.children("CreateTrigStmt", node, skip=("funcname",))


_PROCEDURAL_DEFINES = frozenset(["OBJECT_AGGREGATE", "OBJECT_OPERATOR", "OBJECT_TSPARSER"])


def _define(walk: Walk, node: Node) -> None:
    kind = node.get("kind")
    label = f"CREATE {str(kind).removeprefix('OBJECT_')}"
    if kind == "OBJECT_TSTEMPLATE" or kind in _PROCEDURAL_DEFINES:
        walk.add(Kind.PROCEDURAL, label)
    elif kind == "OBJECT_TYPE" and node.get("definition"):
        walk.add(Kind.PROCEDURAL, "CREATE TYPE with input/output functions")
    else:
        walk.add(Kind.DDL, label)
    walk.children("DefineStmt", node)


def _vacuum(walk: Walk, node: Node) -> None:
    label = "VACUUM" if node.get("is_vacuumcmd") else "ANALYZE"
    if _option(node.get("options", []), "full"):
        walk.add(Kind.LOCK, "VACUUM FULL rewrites and locks tables")
    else:
        walk.add(Kind.DDL, label)
    walk.children("VacuumStmt", node)


HANDLERS: dict[str, Handler] = {
    typ: _simple(typ, kinds, label) for typ, (kinds, label) in SIMPLE.items()
}
HANDLERS.update(
    {
        "DropStmt": _drop,
        "CreateSchemaStmt": _create_schema,
        "GrantStmt": _grant,
        "GrantRoleStmt": _grant_role,
        "CreateRoleStmt": _create_role,
        "AlterRoleStmt": _alter_role,
        "CreateRangeStmt": _create_range,
        "DoStmt": _do,
        "CreateFunctionStmt": _create_function,
        "AlterFunctionStmt": _alter_function,
        "CallStmt": _call,
        "CreateTrigStmt": _create_trigger,
        "DefineStmt": _define,
        "VacuumStmt": _vacuum,
    }
)
HANDLERS.update(alter.HANDLERS)
