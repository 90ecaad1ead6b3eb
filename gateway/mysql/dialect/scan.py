"""Checks on a statement's tokens, whatever the statement: function calls, server escapes
(``INTO OUTFILE`` / ``DUMPFILE``, ``LOAD_FILE()``, ``SONAME``, ``LOAD DATA``), row locks,
variables written, and the system schemas.

They run on the tokens, not on sqlglot's tree, so a statement sqlglot reads loosely (or as
``exp.Command``) is still checked. A call is a word (or quoted name) followed by ``(``, except
after a word that makes it a table, key or CTE name (``functions.NAME_BEFORE``), a CTE's
``name (cols) AS (``, and the words that take a parenthesis (``functions.PAREN_WORDS``). A
qualified call (``db.f(x)``) or a quoted one (```f`(x)``) is a stored function.
"""

from __future__ import annotations

from gateway.guardrails import Kind
from gateway.mysql.dialect.context import Acc
from gateway.mysql.dialect.functions import ESCAPE, NAME_BEFORE, PAREN_WORDS, PURE, REVIEW
from gateway.mysql.dialect.lexer import Token, TokenType

__all__ = ["PRIVATE_SCHEMAS", "PRIVATE_VIEWS", "scan_tokens"]

# Schemas whose tables hold credentials, privileges or other sessions' statement texts.
PRIVATE_SCHEMAS = frozenset(["mysql", "performance_schema", "sys"])
# information_schema views of other sessions' statements and of grants (SHOW GRANTS is held).
PRIVATE_VIEWS = frozenset(
    ["processlist", "user_privileges", "schema_privileges", "table_privileges",
     "column_privileges", "applicable_roles", "enabled_roles", "administrable_role_authorizations",
     "role_table_grants", "role_column_grants", "role_routine_grants", "user_attributes"]
)  # fmt: skip
_NAMES = (TokenType.WORD, TokenType.IDENT)
_SCHEMAS = PRIVATE_SCHEMAS | {"information_schema"}


def scan_tokens(acc: Acc) -> None:
    """Add the findings every statement gets from its tokens alone."""
    tokens = acc.tokens
    n = len(tokens)
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < n else None
        if (
            token.type in _NAMES
            and nxt is not None
            and nxt.value == "("
            and nxt.type is TokenType.OP
        ):
            _call(acc, i)
        if token.type is TokenType.WORD:
            _word(acc, i, token)
        elif token.type is TokenType.IDENT and token.value.casefold() in _SCHEMAS:
            _schema(acc, i)
        elif token.type is TokenType.VARIABLE and nxt is not None and nxt.value == ":=":
            acc.add(Kind.SESSION, f"assigns the user variable {token.value}")


def _word(acc: Acc, i: int, token: Token) -> None:
    tokens = acc.tokens
    upper = token.upper
    following = [t.upper for t in tokens[i + 1 : i + 4]]
    if upper == "INTO" and following[:1] and following[0] in ("OUTFILE", "DUMPFILE"):
        acc.add(Kind.SERVER_ESCAPE, f"SELECT ... INTO {following[0]} writes a server file")
    elif upper == "INTO" and i > 0 and tokens[i + 1 : i + 2] and _into_variables(tokens, i):
        acc.add(Kind.SESSION, "SELECT ... INTO stores values in variables")
    elif upper == "SONAME":
        acc.add(Kind.SERVER_ESCAPE, "SONAME loads a shared library into the server")
    elif upper == "LOAD" and following[:1] and following[0] in ("DATA", "XML"):
        acc.add(Kind.SERVER_ESCAPE, f"LOAD {following[0]} reads a file into a table")
    elif upper == "FOR" and following[:1] and following[0] in ("UPDATE", "SHARE"):
        acc.add(Kind.ROW_LOCK, f"FOR {following[0]} locks the rows read")
    elif upper == "LOCK" and following[:3] == ["IN", "SHARE", "MODE"]:
        acc.add(Kind.ROW_LOCK, "LOCK IN SHARE MODE locks the rows read")
    elif token.value.casefold() in _SCHEMAS:
        _schema(acc, i)


def _into_variables(tokens: list[Token], i: int) -> bool:
    """``INTO @x`` (or a declared variable) inside a SELECT, not ``INSERT INTO t``."""
    before = tokens[i - 1].upper if i > 0 else ""
    if before in ("INSERT", "REPLACE", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"):
        return False
    return tokens[i + 1].type is TokenType.VARIABLE or (
        any(t.is_word("SELECT") for t in tokens[:i])
        and not tokens[0].is_word("INSERT", "REPLACE", "CREATE")
    )


def _schema(acc: Acc, i: int) -> None:
    tokens = acc.tokens
    if i + 2 < len(tokens) and tokens[i + 1].value == "." and tokens[i + 1].type is TokenType.OP:
        name = tokens[i].value.casefold()
        if name != "information_schema":
            detail = f"reads the {name} schema (credentials, privileges, statements)"
            acc.add(Kind.PRIVILEGE, detail)
        elif tokens[i + 2].value.casefold() in PRIVATE_VIEWS:
            view = tokens[i + 2].value.casefold()
            acc.add(Kind.PRIVILEGE, f"reads information_schema.{view} (grants or statements)")


def _call(acc: Acc, i: int) -> None:
    tokens = acc.tokens
    token = tokens[i]
    name = token.value.upper()
    start = _chain_start(tokens, i)  # db.t ( ... : the chain's first name
    before = tokens[start - 1] if start > 0 else None
    if _names_not_call(tokens, i, before):
        return
    if token.type is TokenType.WORD and name in PAREN_WORDS and name not in PURE:
        return
    acc.functions.append(name.casefold())
    if start < i:
        acc.add(Kind.PROCEDURAL, f"qualified call of {name}: a stored function", name.casefold())
    elif name in ESCAPE:
        acc.add(Kind.SERVER_ESCAPE, f"{name}() reaches the server's files or OS", name.casefold())
    elif name in REVIEW:
        acc.add(Kind.REVIEW, f"{name}() is on the review list", name.casefold())
    elif token.type is TokenType.IDENT:
        # MariaDB runs `load_file`(...) as the built-in, but a quoted name of a function the
        # grammar spells as a keyword (`left`, `insert`, `char`) may be a stored function
        detail = f"`{token.value}`(): a quoted function name, possibly a stored function"
        acc.add(Kind.PROCEDURAL, detail, name.casefold())
    elif name not in PURE:
        detail = f"{name}() is not a MySQL built-in (a stored function or UDF)"
        acc.add(Kind.PROCEDURAL, detail, name.casefold())


def _chain_start(tokens: list[Token], i: int) -> int:
    """The index of the first name of a dotted chain ending at ``i`` (``a.b.c``)."""
    while i >= 2 and _dot(tokens[i - 1]) and tokens[i - 2].type in _NAMES:
        i -= 2
    return i


def _dot(token: Token) -> bool:
    return token.type is TokenType.OP and token.value == "."


_PARTITIONING = frozenset(["HASH", "LIST", "KEY", "RANGE", "COLUMNS"])


def _names_not_call(tokens: list[Token], i: int, before: Token | None) -> bool:
    """Whether ``name (`` names a table, key, index, view or CTE (its column list), or is a
    partitioning clause (``PARTITION BY HASH (id)``), rather than calling a function."""
    if before is not None and before.type is TokenType.WORD:
        if before.upper in NAME_BEFORE:
            return True
        if before.upper == "ON" and _index_statement(tokens):
            return True
        if tokens[i].upper in _PARTITIONING and before.upper in ("BY", "LINEAR", *_PARTITIONING):
            return True
    return _cte_columns(tokens, i + 1)


def _index_statement(tokens: list[Token]) -> bool:
    """CREATE [UNIQUE | FULLTEXT | SPATIAL] INDEX i ON t (cols)."""
    return tokens[0].is_word("CREATE") and any(t.is_word("INDEX") for t in tokens[1:4])


def _cte_columns(tokens: list[Token], open_at: int) -> bool:
    """Whether the parenthesis at ``open_at`` closes before ``AS (``: a CTE's column list."""
    depth = 0
    for j in range(open_at, len(tokens)):
        token = tokens[j]
        if token.type is not TokenType.OP:
            continue
        if token.value == "(":
            depth += 1
        elif token.value == ")":
            depth -= 1
            if depth == 0:
                rest = tokens[j + 1 : j + 3]
                return len(rest) == 2 and rest[0].is_word("AS") and rest[1].value == "("
    return False
