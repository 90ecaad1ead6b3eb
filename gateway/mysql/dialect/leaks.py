"""Routes by which a masked value would leave other than as a masked output column, on a MySQL
connection that masks (docs/security.md, "Masked values leak around the result set"), and the
outputs computed from a masked column.

``MySQLMasking.check(text, state)`` returns the first ``Leak`` of a text (the session refuses
it: ``blocked by rule masking/<route>``) or None:

- ``masking/diagnostics``: ``SHOW WARNINGS``, ``SHOW ERRORS``, ``GET DIAGNOSTICS``, and
  ``SHOW COUNT(*) WARNINGS``: a failed cast quotes the value (``Truncated incorrect INTEGER
  value: '123-45-6789'``), and those texts come back as rows, not as ERR packets
  (``error_message`` masks those).
- ``masking/statistics``: histograms and full-text index words (``information_schema.
  COLUMN_STATISTICS``, ``INNODB_FT_*``, MariaDB's ``mysql.column_stats``): column values.
- with column rules, ``masking/copy``: a masked column (or ``*``) among the values of
  ``INSERT | REPLACE ... SELECT``, ``CREATE TABLE ... SELECT``, ``CREATE | ALTER VIEW``,
  ``UPDATE ... SET``, ``SET @v = ...``, ``SELECT ... INTO @v`` and ``@v := ...`` (a variable
  read later is a computed column the rules cannot bind);
- with column rules, ``masking/code``: a stored procedure, function, trigger or event whose
  body names a masked column or a rule's table (its results are not bound to columns);
- with column rules, ``masking/rename``: renaming a masked column (``RENAME COLUMN``,
  ``CHANGE``) or a rule's table (``RENAME TABLE``, ``ALTER TABLE ... RENAME``);
- the statement under ``EXPLAIN [ANALYZE]``, MariaDB's ``ANALYZE`` and ``SET STATEMENT ...
  FOR`` is checked as itself;
- ``masking/unreadable``: a text that cannot be read (lexed, or parsed: a query, a copy)
  naming a masked column or a rule's table, and ``PREPARE ... FROM @var`` or ``EXECUTE
  IMMEDIATE @var`` (a text not known here). The text of ``PREPARE ... FROM '...'`` and of
  MariaDB's ``EXECUTE IMMEDIATE '...'`` is checked as SQL.

A masked column is named by a column rule (``ssn`` in any table, ``customers.ssn``); a masked
column in a WHERE clause is filtering, not a copy. Names, not the catalog: a rule without a
table makes every ``*`` a possible copy.

``derived(text, state)``: the output indexes of a single query computed from a masked column
(an expression over it, a UNION branch with it at that place, a derived table or CTE column
built from it), or ``ALL_OUTPUTS`` when they cannot be told apart (a ``*`` over a derived
table, a CTE or a UNION branch that may hold one); the listener hands them to ``plan(...,
derived=...)``, which masks them whole. MariaDB reports a derived table's column under the
derived table's name and the alias, which no rule binds: this is what masks it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlglot import exp

from gateway.masking import MaskingRules
from gateway.mysql.dialect import dml
from gateway.mysql.dialect.errors import LexError
from gateway.mysql.dialect.lexer import Token, TokenType, lex, split
from gateway.mysql.dialect.state import MySQLState

__all__ = ["ALL_OUTPUTS", "Leak", "derived", "find_leak"]

_STATISTICS = frozenset(["column_statistics", "column_stats", "table_stats", "index_stats"])
_CODE = frozenset(["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE"])
_NAMES = (TokenType.WORD, TokenType.IDENT)


@dataclass(frozen=True, slots=True)
class Leak:
    """Why a text is refused on a masking connection: ``rule`` (``masking/<route>``)."""

    rule: str
    reason: str


class _Names:
    """What the rules name: masked column names, and the tables rules name."""

    def __init__(self, rules: MaskingRules) -> None:
        self.columns = frozenset(rule.column for rule in rules.column_rules)
        self.tables = frozenset(r.table for r in rules.column_rules if r.table is not None)
        self.any_table = any(r.table is None for r in rules.column_rules)

    def column(self, name: str) -> bool:
        return name.casefold() in self.columns

    def star(self, tables: list[str]) -> bool:
        """Whether ``*`` over ``tables`` may hold a masked column."""
        return self.any_table or any(t.rsplit(".", 1)[-1].casefold() in self.tables for t in tables)


def _statements(text: str, state: MySQLState) -> list[list[Token]]:
    tokens = lex(
        text, ansi_quotes=state.ansi_quotes, no_backslash_escapes=state.no_backslash_escapes
    )
    return [statement for statement, _ in split(tokens, len(text))]


def find_leak(text: str, state: MySQLState, rules: MaskingRules, depth: int = 0) -> Leak | None:
    """The first route in ``text`` that would take a masked value out, or None (with sql_mode
    unknown, under each reading of a text with a backslash or a double quote)."""
    if not state.sql_mode_known and ("\\" in text or '"' in text):
        for mode in ("", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"):
            leak = find_leak(text, state.with_sql_mode(mode), rules, depth)
            if leak is not None:
                return leak
        return None
    names = _Names(rules)
    try:
        statements = _statements(text, state)
    except LexError:
        if not names.columns or any(names.column(w) for w in text.replace("`", " ").split()):
            return Leak(
                "masking/unreadable", "a text the gateway cannot read names a masked column"
            )
        return None
    for tokens in statements:
        leak = _statement(tokens, state, rules, names, depth)
        if leak is not None:
            return leak
    return None


def _statement(
    tokens: list[Token], state: MySQLState, rules: MaskingRules, names: _Names, depth: int
) -> Leak | None:
    words = [t.upper if t.type is TokenType.WORD else "" for t in tokens]
    if (
        words[:2] in (["SHOW", "WARNINGS"], ["SHOW", "ERRORS"], ["GET", "DIAGNOSTICS"])
        or (words[:1] == ["SHOW"] and ("WARNINGS" in words or "ERRORS" in words))
        or (words[:2] == ["GET", "CURRENT"] or words[:2] == ["GET", "STACKED"])
    ):
        return Leak("masking/diagnostics", "warning texts quote values; they are not masked")
    if any(
        t.type in _NAMES
        and (t.value.casefold() in _STATISTICS or t.value.casefold().startswith("innodb_ft_"))
        for t in tokens
    ):
        return Leak("masking/statistics", "statistics and full-text index words are column values")
    inner = _inner(tokens, words)
    if inner is not None:  # EXPLAIN [ANALYZE], ANALYZE, SET STATEMENT ... FOR: the statement
        return _statement(inner, state, rules, names, depth) if inner else None
    if words[:1] == ["PREPARE"]:
        return _prepare(tokens[3:], state, rules, depth)
    if words[:2] == ["EXECUTE", "IMMEDIATE"]:  # MariaDB: runs the text now
        end = next((i for i, t in enumerate(tokens) if t.is_word("USING")), len(tokens))
        return _prepare(tokens[2:end], state, rules, depth)
    if not names.columns:
        return None
    return (
        _code(tokens, words, names)
        or _copy(tokens, words, names)
        or _rename(tokens, words, names)
        or _unreadable_query(tokens, words, names)
    )


def _unreadable_query(tokens: list[Token], words: list[str], names: _Names) -> Leak | None:
    """A query sqlglot cannot read that names a masked column or a rule's table: nothing
    vouches for what its outputs are (``SELECT * FROM t PROCEDURE ANALYSE()`` returns each
    column's smallest and largest values as computed columns)."""
    if words[0] not in ("SELECT", "WITH", "TABLE", "VALUES") and tokens[0].value != "(":
        return None
    named = any(
        t.type in _NAMES and (names.column(t.value) or t.value.casefold() in names.tables)
        for t in tokens
    )
    if named and dml.parse(tokens) is None:
        return Leak("masking/unreadable", "a query the gateway cannot read names a masked column")
    return None


_STARTS = frozenset(["SELECT", "WITH", "TABLE", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"])


def _inner(tokens: list[Token], words: list[str]) -> list[Token] | None:
    """The statement under EXPLAIN / DESCRIBE / ANALYZE (from its first word) or after
    ``SET STATEMENT ... FOR``; None when ``tokens`` is no such wrapper, [] when it wraps none."""
    if words[0] in ("EXPLAIN", "DESCRIBE", "DESC", "ANALYZE"):
        start = next(
            (i for i, t in enumerate(tokens[1:], 1) if t.upper in _STARTS or t.value == "("),
            len(tokens),
        )
        return tokens[start:]
    if words[:2] == ["SET", "STATEMENT"]:
        depth = 0
        for i, token in enumerate(tokens):
            if token.type is TokenType.OP and token.value in ("(", ")"):
                depth += 1 if token.value == "(" else -1
            elif depth == 0 and token.is_word("FOR") and i > 2:
                return tokens[i + 1 :]
        return []
    return None


def _prepare(text: list[Token], state: MySQLState, rules: MaskingRules, depth: int) -> Leak | None:
    """The leaks of a prepared (or immediately executed) text given as string literals."""
    body = [t for t in text if not (t.type is TokenType.WORD and t.value[:1] in "_Nn")]
    if not body or any(t.type is not TokenType.STRING for t in body) or depth > 3:
        return Leak("masking/unreadable", "PREPARE from a text not known here")
    return find_leak("".join(t.value for t in body), state, rules, depth + 1)


def _code(tokens: list[Token], words: list[str], names: _Names) -> Leak | None:
    if words[:1] not in (["CREATE"], ["ALTER"]) or not set(words[1:6]) & _CODE:
        return None
    named = any(
        t.type in _NAMES and (names.column(t.value) or t.value.casefold() in names.tables)
        for t in tokens
    )
    if named:
        return Leak("masking/code", "stored code that names a masked column returns it unmasked")
    return None


def _rename(tokens: list[Token], words: list[str], names: _Names) -> Leak | None:
    if (
        words[:2] == ["RENAME", "TABLE"]
        or (words[:1] == ["ALTER"] and "RENAME" in words)
        or (words[:1] == ["ALTER"] and "CHANGE" in words)
    ):
        for t in tokens[2:]:
            if t.type in _NAMES and (names.column(t.value) or t.value.casefold() in names.tables):
                return Leak("masking/rename", f"renames {t.value}, which a masking rule names")
    return None


def _copy(tokens: list[Token], words: list[str], names: _Names) -> Leak | None:
    first = words[0]
    assigns = any(
        t.type is TokenType.VARIABLE and n.value == ":=" for t, n in itertools.pairwise(tokens)
    )
    if assigns and any(t.type in _NAMES and names.column(t.value) for t in tokens):
        # @v := ... anywhere (a WHERE clause too) with a masked column in the statement
        return Leak("masking/copy", "assigns a variable in a statement that reads a masked column")
    into_variable = any(
        w == "INTO" and i + 1 < len(tokens) and tokens[i + 1].type is TokenType.VARIABLE
        for i, w in enumerate(words)
    ) or any(
        t.type is TokenType.VARIABLE and n.value == ":=" for t, n in itertools.pairwise(tokens)
    )
    copies = (
        first in ("INSERT", "REPLACE", "SET")
        or into_variable
        or (first in ("CREATE", "ALTER") and ("SELECT" in words or "VIEW" in words))
        or first == "UPDATE"
    )
    if not copies:
        return None
    if first == "REPLACE":
        tokens = [Token(TokenType.WORD, "INSERT", 0, 0), *tokens[1:]]
    if first == "SET":
        tokens = [Token(TokenType.WORD, "SELECT", 0, 0), *tokens[1:]]
    if first in ("CREATE", "ALTER"):
        start = next((i for i, w in enumerate(words) if w in ("SELECT", "WITH")), None)
        if start is None:
            return None
        tokens = tokens[start:]
    tree = dml.parse(tokens)
    if tree is None:
        if any(t.type in _NAMES and names.column(t.value) for t in tokens):
            return Leak(
                "masking/unreadable", "a copy the gateway cannot read names a masked column"
            )
        return None
    if _copies_masked(tree, names, update=first == "UPDATE"):
        return Leak("masking/copy", "copies a masked column where it would be read unmasked")
    return None


def _copies_masked(tree: exp.Expr, names: _Names, *, update: bool) -> bool:
    """Whether a masked column (or a ``*`` that may hold one) is among the copied values."""
    if update:
        values = [e.expression for e in tree.expressions if isinstance(e, exp.EQ)]
        return any(_names_masked(v, names, []) for v in values)
    selects = list(tree.find_all(exp.Select))
    if not selects:
        return any(_names_masked(e, names, []) for e in tree.expressions)
    for select in selects:
        tables = [t.name for t in select.find_all(exp.Table)]
        for output in select.expressions:
            if _names_masked(output, names, tables):
                return True
    return False


def _names_masked(node: exp.Expr, names: _Names, tables: list[str]) -> bool:
    for column in node.find_all(exp.Column, exp.Star):
        if isinstance(column, exp.Star) or isinstance(column.this, exp.Star):
            if names.star(tables):
                return True
        elif names.column(column.name):
            return True
    return False


class _AllOutputs(frozenset[int]):
    """Every output index (``index in ALL_OUTPUTS`` is always true): a query whose outputs
    cannot be told apart, masked whole."""

    def __contains__(self, index: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash("ALL_OUTPUTS")

    def __repr__(self) -> str:
        return "ALL_OUTPUTS"


ALL_OUTPUTS: frozenset[int] = _AllOutputs()


def derived(text: str, state: MySQLState, rules: MaskingRules) -> frozenset[int] | None:
    """Output indexes of a single query computed from a masked column (None: none, or not
    one readable query; ``ALL_OUTPUTS`` when they cannot be told apart)."""
    names = _Names(rules)
    if not names.columns:
        return None
    try:
        statements = _statements(text, state)
    except LexError:
        return None
    if len(statements) != 1:
        return None
    tree = dml.parse(statements[0])
    if tree is None or not isinstance(tree, (exp.Select, exp.SetOperation)):
        return None
    found = _derived(tree, names)
    if found is None:
        return ALL_OUTPUTS
    return frozenset(found) or None


def _star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (
        isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
    )


def _derived(tree: exp.Expr, names: _Names) -> set[int] | None:
    """The derived output indexes; None when every output must be taken as derived."""
    if isinstance(tree, exp.SetOperation):
        return _union_names(tree, names)
    if not isinstance(tree, exp.Select):
        return set()
    inner = _inner_masked(tree, names)
    if inner is None:
        return None
    out: set[int] = set()
    for index, output in enumerate(tree.expressions):
        bare = output.this if isinstance(output, exp.Alias) else output
        if _star(bare):
            if inner:  # a derived table's or CTE's columns, which the server does not bind
                return None
            continue  # a real table's columns: bound by their origin
        if isinstance(bare, exp.Column):
            if bare.name.casefold() in inner:
                out.add(index)
            continue
        refs = {c.name.casefold() for c in bare.find_all(exp.Column)}
        if refs & (names.columns | inner) or any(
            _derived(s, names) != set() for s in bare.find_all(exp.Select)
        ):
            out.add(index)
    return out


def _inner_masked(tree: exp.Select, names: _Names) -> set[str] | None:
    """Names of derived-table and CTE outputs computed from a masked column; None when one
    of them is a ``*`` that may hold one (its names are not known here)."""
    found: set[str] = set()
    for sub in (*tree.find_all(exp.Subquery), *tree.find_all(exp.CTE)):
        query = sub.this
        if not isinstance(query, (exp.Select, exp.SetOperation)):
            continue
        for select in query.find_all(exp.Select):
            tables = [t.name for t in select.find_all(exp.Table)]
            for output in select.expressions:
                if not _names_masked(output, names, tables):
                    continue
                if _star(output):
                    return None
                found.add(output.alias_or_name.casefold())
    return found


def _union_names(tree: exp.SetOperation, names: _Names) -> set[int] | None:
    """A UNION's column i is masked when any branch has a masked column at i; every column
    when a branch has a ``*`` that may hold one (its width is not known here)."""
    out: set[int] = set()
    for select in tree.find_all(exp.Select):
        tables = [t.name for t in select.find_all(exp.Table)]
        for index, output in enumerate(select.expressions):
            if _names_masked(output, names, tables):
                if _star(output):
                    return None
                out.add(index)
    return out
