"""What classifying one statement collects (``Acc``), and what every statement of a text
shares (``Shared``): the state inputs it depended on, whether a literal mattered, the depth of
prepared bodies read so far."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.guardrails import Classification, Effect, Finding, Kind, Statement
from gateway.mysql.dialect.lexer import Token
from gateway.mysql.dialect.state import MySQLState

__all__ = ["MAX_DEPTH", "Acc", "Ctx", "Shared", "nested"]

MAX_DEPTH = 8  # PREPARE bodies inside PREPARE bodies ...: deeper is unknown


@dataclass(slots=True)
class Shared:
    """Per text: ``depends`` (state inputs read), ``literal_sensitive``, ``depth``."""

    depends: set[str] = field(default_factory=set)
    literal_sensitive: bool = False
    depth: int = 0


@dataclass(slots=True)
class Acc:
    """What one statement does, as it is found."""

    tokens: list[Token]
    findings: list[Finding] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    def add(self, kind: Kind, detail: str, function: str | None = None) -> None:
        """One finding (duplicates of the same kind and detail are kept once)."""
        finding = Finding(kind, detail, function)
        if finding not in self.findings:
            self.findings.append(finding)

    def table(self, name: str) -> None:
        """A table the statement touches (``db.table`` or ``table``, folded)."""
        folded = name.casefold()
        if folded not in self.tables:
            self.tables.append(folded)

    def statement(self, text: str, command: str) -> Statement:
        """The collected statement; one with no finding at all is ``unknown``."""
        findings = tuple(self.findings) or (Finding(Kind.UNKNOWN, f"{command}: not classified"),)
        return Statement(
            text=text,
            command=command,
            findings=findings,
            tables=tuple(self.tables),
            functions=tuple(self.functions),
            effects=tuple(self.effects),
        )

    def words(self, start: int = 0, count: int = 4) -> list[str]:
        """The upper-cased values of up to ``count`` tokens from ``start`` (keywords)."""
        return [t.upper for t in self.tokens[start : start + count]]


@dataclass(slots=True)
class Ctx:
    """What a handler may ask for: the ``state`` the statement runs in, what the text
    ``shared``, how to ``scan`` a statement's tokens, and how to classify a prepared ``body``
    (a text run later in this state: PREPARE ... FROM '...')."""

    state: MySQLState
    shared: Shared
    scan: Callable[[Acc], None]
    body: Callable[[str, MySQLState, Shared], Classification]
    dispatch: Callable[[Acc, Ctx], str]


_PLANNER_KINDS = frozenset(
    [Kind.SERVER_ESCAPE, Kind.PROCEDURAL, Kind.REVIEW, Kind.UNKNOWN, Kind.AMBIGUOUS, Kind.CONFIG]
)


def nested(acc: Acc, ctx: Ctx, tokens: list[Token], runs: str | None) -> None:
    """The statement under EXPLAIN / ANALYZE / SET STATEMENT: all its kinds when it runs
    (``runs`` says why), else a read plus what planning it may execute (functions, constant
    sub-queries)."""
    if not tokens:
        acc.add(Kind.UNKNOWN, "no statement where one is expected")
        return
    inner = Acc(tokens)
    ctx.scan(inner)
    ctx.dispatch(inner, ctx)
    for table in inner.tables:
        acc.table(table)
    if runs is not None:
        acc.effects.extend(inner.effects)
    else:
        acc.add(Kind.READ, "EXPLAIN plans the statement")
    for finding in inner.findings:
        if runs is not None or finding.kind in _PLANNER_KINDS:
            acc.add(finding.kind, finding.detail, finding.function)
