"""The tree walk: visits libpg_query's JSON parse tree and collects findings for one statement.

libpg_query's JSON wraps every ``Node *`` as ``{"TypeName": {fields}}``; fields typed as a
specific struct (``RangeVar *relation``, ``FuncCall *funccall``, ``SelectStmt *larg``) are inlined
without the wrapper. ``INLINE`` maps (node type, field) to the inlined type, read once from
pglast's own node definitions, so every dict in the tree has a known type. A node type that is
neither handled, neutral nor a leaf is an ``unknown`` finding: fail closed when libpg_query grows
a node this code has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pglast.ast

from gateway.guardrails import Effect, Finding, Kind, Statement
from gateway.postgres.dialect.catalog import words
from gateway.postgres.dialect.state import SessionState

__all__ = ["INLINE", "LEAVES", "NEUTRAL", "Handler", "Shared", "Walk", "neutral_handlers"]

Node = dict[str, Any]
Handler = Callable[["Walk", Node], None]

# Leaves: no children that can call a function or touch a table.
LEAVES = words(
    """
    A_Const A_Star String Integer Float Boolean BitString ParamRef SQLValueFunction
    CurrentOfExpr SetToDefault RoleSpec Alias MergeSupportFunc TriggerTransition AccessPriv
    JsonFormat JsonTablePathSpec ObjectWithArgs
    """
)

# Nodes with no effect of their own: their children are walked.
NEUTRAL = words(
    """
    A_ArrayExpr A_Indices BoolExpr BooleanTest CaseExpr CaseWhen CoalesceExpr
    CollateClause CommonTableExpr CTECycleClause CTESearchClause DefElem GroupingFunc
    GroupingSet IndexElem InferClause IntoClause JoinExpr List LockingClause MergeWhenClause
    MinMaxExpr MultiAssignRef NamedArgExpr NullTest OnConflictClause RangeFunction
    RangeSubselect RangeTableFunc RangeTableFuncCol ResTarget ReturningClause ReturningOption
    RowExpr SubLink TypeCast TypeName WindowDef WithClause XmlExpr XmlSerialize
    ColumnDef Constraint PartitionBoundSpec PartitionElem PartitionRangeDatum PartitionSpec
    PartitionCmd TableLikeClause FunctionParameter StatsElem VacuumRelation PublicationObjSpec
    PublicationTable CreateOpClassItem ATAlterConstraint ReturnStmt JsonAggConstructor
    JsonArgument JsonArrayAgg JsonArrayConstructor JsonArrayQueryConstructor JsonBehavior
    JsonFuncExpr JsonIsPredicate JsonKeyValue JsonObjectAgg JsonObjectConstructor JsonOutput
    JsonParseExpr JsonReturning JsonScalarExpr JsonSerializeExpr JsonTable JsonTableColumn
    JsonValueExpr ReplicaIdentityStmt
    """
)

_GENERIC_POINTERS = frozenset(["Node*", "List*", "char*", "Expr*", "Bitmapset*"])


def _inline_fields() -> dict[str, dict[str, str]]:
    """(node type → field → inlined node type), from pglast's slot declarations."""
    inline: dict[str, dict[str, str]] = {}
    for name, cls in vars(pglast.ast).items():
        slots = getattr(cls, "__slots__", None)
        if not isinstance(slots, dict):
            continue
        for field, info in slots.items():
            c_type = getattr(info, "c_type", "")
            if c_type.endswith("*") and c_type not in _GENERIC_POINTERS:
                inline.setdefault(name, {})[field] = c_type[:-1]
    return inline


INLINE: Mapping[str, Mapping[str, str]] = _inline_fields()


def neutral_handlers() -> dict[str, Handler]:
    """A handler per neutral node type: walk its children (one dict lookup per node)."""

    def make(typ: str) -> Handler:
        def handle(walk: Walk, node: Node) -> None:
            walk.children(typ, node)

        return handle

    return {typ: make(typ) for typ in NEUTRAL}


class Shared:
    """What every statement of one text contributes to: cache dependencies."""

    __slots__ = ("depends", "literal_sensitive")

    def __init__(self, depends: set[str]) -> None:
        self.depends = depends
        self.literal_sensitive = False


class Walk:
    """Findings, tables, functions and effects collected while walking one statement."""

    __slots__ = ("effects", "findings", "functions", "handlers", "shared", "state", "tables")

    def __init__(self, state: SessionState, handlers: Mapping[str, Handler], shared: Shared):
        self.state = state
        self.handlers = handlers
        self.shared = shared
        self.findings: dict[Finding, None] = {}
        self.tables: dict[str, None] = {}
        self.functions: dict[str, None] = {}
        self.effects: list[Effect] = []

    def add(self, kind: Kind, detail: str, function: str | None = None) -> None:
        self.findings[Finding(kind, detail, function)] = None

    def fork(self) -> Walk:
        """A walk for a sub-statement whose findings the caller filters (EXPLAIN, PREPARE)."""
        return Walk(self.state, self.handlers, self.shared)

    def absorb(self, other: Walk, kinds: frozenset[Kind] | None = None) -> None:
        """Take ``other``'s tables and functions, and its findings (of ``kinds`` if given)."""
        self.tables.update(other.tables)
        self.functions.update(other.functions)
        for finding in other.findings:
            if kinds is None or finding.kind in kinds:
                self.findings[finding] = None

    def statement(self, text: str, command: str) -> Statement:
        return Statement(
            text=text,
            command=command,
            findings=tuple(self.findings),
            tables=tuple(self.tables),
            functions=tuple(self.functions),
            effects=tuple(self.effects),
        )

    def visit_node(self, wrapped: object) -> None:
        """Visit a ``{"Type": {fields}}`` wrapper (``{}`` is a NULL list element)."""
        if wrapped == {}:
            return
        if type(wrapped) is not dict or len(wrapped) != 1:
            self.add(Kind.UNKNOWN, "malformed parse tree")
            return
        for typ, node in wrapped.items():
            self.visit(typ, node)

    def visit(self, typ: str, node: Node) -> None:
        handler = self.handlers.get(typ)
        if handler is not None:
            handler(self, node)
        elif typ not in LEAVES:
            self.add(Kind.UNKNOWN, f"unsupported syntax ({typ})")

    def children(self, typ: str, node: Node, skip: tuple[str, ...] = ()) -> None:
        """Visit every child of ``node`` (a ``typ``), except the fields in ``skip``.

        The hot loop of classification: wrappers are unpacked here and leaves skipped without
        a call.
        """
        inline = INLINE.get(typ)
        for field, value in node.items():
            kind = type(value)
            if kind is dict:
                if skip and field in skip:
                    continue
                if inline is not None and field in inline:
                    self.visit(inline[field], value)
                elif len(value) == 1:
                    for child, content in value.items():
                        if child not in LEAVES:
                            self.visit(child, content)
                else:
                    self.visit_node(value)
            elif kind is list:
                if skip and field in skip:
                    continue
                for item in value:
                    if type(item) is dict and len(item) == 1:
                        for child, content in item.items():
                            if child not in LEAVES:
                                self.visit(child, content)
                    else:
                        self.visit_node(item)
