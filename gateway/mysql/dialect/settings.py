"""``SET`` in all its forms (MySQL 8.0 Reference Manual 15.7.6 "SET Statements"; MariaDB
"SET STATEMENT").

- ``SET @x = expr``: ``session`` (the expression is classified as a query: a sub-query is a
  read, functions are checked by the tokens).
- ``SET [SESSION | LOCAL] var = value`` / ``@@var`` / ``@@session.var``: ``session`` for the
  variables clients set at connect (``SESSION_VARIABLES``), ``transaction`` for isolation,
  ``config`` (held) for any other; ``sql_mode`` is ``session`` when set to a literal list of
  mode names (tracked: it changes how the next statements are lexed) and ``config`` otherwise
  (then unknown): an expression, DEFAULT, a number (a bit mask: 4 is ANSI_QUOTES).
- ``SET GLOBAL | PERSIST | PERSIST_ONLY`` and ``@@global.`` / ``@@persist.``: ``config``.
- ``SET NAMES`` / ``CHARACTER SET`` / ``character_set_client`` / ``character_set_connection`` /
  ``character_set_results``: ``session`` for the character sets in which every byte below
  0x80 is that ASCII character (``SAFE_CHARSETS``), ``config`` for any other value: big5,
  cp932, gbk, gb18030 and sjis, whose multi-byte characters may end in a backslash or quote
  byte (the server and the gateway would read a literal differently), a number (a character
  set id: 28 is gbk), DEFAULT; and for results utf16, utf32, ucs2 (the detectors' ASCII
  patterns would not match a value). ``character_set_results = NULL`` (Connector/J sends it)
  is ``session``: values come in their column's set, which masking transcodes.
- ``SET PASSWORD``, ``SET ROLE``, ``SET DEFAULT ROLE``: ``privilege``.
- ``SET TRANSACTION``: ``transaction``; ``config`` when it may make a transaction read-write.
- MariaDB's ``SET STATEMENT var = value [, ...] FOR stmt``: the variables as above (their
  values last for that statement only: a sql_mode there is not tracked), and the statement
  itself with all its kinds.
"""

from __future__ import annotations

from gateway.guardrails import Effect, Kind
from gateway.mysql.dialect import dml
from gateway.mysql.dialect.context import Acc, Ctx, nested
from gateway.mysql.dialect.lexer import Token, TokenType
from gateway.mysql.dialect.state import parse_sql_mode

__all__ = ["SAFE_CHARSETS", "SESSION_VARIABLES", "effect_set", "set_statement"]

SESSION_VARIABLES = frozenset(
    """
    autocommit names collation_connection time_zone sql_select_limit
    net_read_timeout net_write_timeout wait_timeout interactive_timeout max_execution_time
    max_statement_time lc_time_names lc_messages group_concat_max_len div_precision_increment
    session_track_schema session_track_state_change session_track_system_variables
    session_track_transaction_info session_track_gtids sql_notes sql_warnings
    sql_quote_show_create sql_auto_is_null sql_big_selects sql_buffer_result sql_safe_updates
    max_join_size sort_buffer_size net_buffer_length profiling profiling_history_size
    optimizer_switch optimizer_search_depth innodb_lock_wait_timeout lock_wait_timeout
    default_week_format big_tables character_set_database completion_type
    explicit_defaults_for_timestamp end_markers_in_json updatable_views_with_limit
    transaction_prealloc_size cte_max_recursion_depth
    """.split()  # noqa: SIM905 (a word list)
)
_TRANSACTION_VARIABLES = frozenset(["transaction_isolation", "tx_isolation"])
_READ_ONLY_VARIABLES = frozenset(["transaction_read_only", "tx_read_only"])
_CHARSET_VARIABLES = frozenset(
    ["character_set_client", "character_set_connection", "character_set_results"]
)
# Character sets in which every byte below 0x80 is that ASCII character: the server lexes a
# text in them as the gateway does. Anything else (big5, cp932, gbk, gb18030, sjis, whose
# multi-byte characters may end in a backslash or quote byte; a number, which the server takes
# as a character set id: 28 is gbk; DEFAULT, the server's default) is held.
SAFE_CHARSETS = frozenset(
    """
    utf8 utf8mb3 utf8mb4 latin1 latin2 latin5 latin7 ascii binary cp1250 cp1251 cp1256 cp1257
    cp850 cp852 cp866 dec8 greek hebrew hp8 keybcs2 koi8r koi8u macce macroman swe7 tis620
    armscii8 geostd8 ujis eucjpms euckr gb2312
    """.split()  # noqa: SIM905 (a word list)
)
_CONFIG_SCOPES = frozenset(["GLOBAL", "PERSIST", "PERSIST_ONLY"])
_SCOPES = frozenset(["SESSION", "LOCAL", *_CONFIG_SCOPES])
_TRUE = frozenset(["1", "ON", "TRUE"])


def effect_set(name: str, value: str | None) -> Effect:
    """A ``set`` effect on the tracked state (``sql_mode``, ``database``)."""
    return Effect("set", name, value)


def set_statement(acc: Acc, ctx: Ctx) -> None:
    """Classify one SET statement."""
    ctx.shared.literal_sensitive = True
    tokens = acc.tokens
    words = acc.words(1, 3)
    if words[:1] == ["STATEMENT"]:
        _set_statement_for(acc, ctx)
    elif words[:1] == ["PASSWORD"] or words[:1] == ["ROLE"] or words[:2] == ["DEFAULT", "ROLE"]:
        acc.add(Kind.PRIVILEGE, f"SET {' '.join(words[:2])} changes accounts or privileges")
    elif words[:1] == ["NAMES"] or words[:2] == ["CHARACTER", "SET"] or words[:1] == ["CHARSET"]:
        value = tokens[3] if words[0] == "CHARACTER" else tokens[2] if len(tokens) > 2 else None
        _charset(acc, value)
    elif "TRANSACTION" in words[:2]:
        _transaction(acc, words)
    elif words[:2] == ["RESOURCE", "GROUP"]:
        acc.add(Kind.CONFIG, "SET RESOURCE GROUP")
    else:
        for assignment in _assignments(tokens[1:]):
            _assign(acc, ctx, assignment)


def _transaction(acc: Acc, words: list[str]) -> None:
    if words[0] in _CONFIG_SCOPES:
        acc.add(Kind.CONFIG, f"SET {words[0]} TRANSACTION changes the server's default")
    elif "WRITE" in [t.upper for t in acc.tokens]:
        acc.add(Kind.CONFIG, "SET TRANSACTION READ WRITE may undo a read-only default")
    else:
        acc.add(Kind.TRANSACTION, "SET TRANSACTION")


def _charset(acc: Acc, value: Token | None, *, results: bool = False) -> None:
    name = value.value.casefold() if value is not None else ""
    if results and name == "null" and value is not None and value.type is TokenType.WORD:
        acc.add(Kind.SESSION, "results in each column's character set (masking transcodes)")
    elif name in SAFE_CHARSETS and value is not None and value.type is not TokenType.NUMBER:
        acc.add(Kind.SESSION, f"character set {name}")
    else:
        detail = f"character set {name or '?'}: the server might lex texts differently"
        acc.add(Kind.CONFIG, detail)


def _assignments(tokens: list[Token]) -> list[list[Token]]:
    """Split ``a = 1, @b := 2`` at top-level commas."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.type is TokenType.OP and token.value == "(":
            depth += 1
        elif token.type is TokenType.OP and token.value == ")":
            depth -= 1
        if depth == 0 and token.type is TokenType.OP and token.value == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _target(tokens: list[Token]) -> tuple[str, str, list[Token]] | None:
    """(scope, name, value tokens) of one assignment; None when it is not one."""
    scope = "SESSION"
    i = 0
    if tokens and tokens[0].type is TokenType.WORD and tokens[0].upper in _SCOPES:
        scope, i = tokens[0].upper, 1
    if i >= len(tokens):
        return None
    head = tokens[i]
    if head.type is TokenType.VARIABLE and head.value.startswith("@@"):
        qualifier = head.value[2:].upper()
        if qualifier in _SCOPES and i + 2 < len(tokens) and tokens[i + 1].value == ".":
            scope, name, i = qualifier, tokens[i + 2].value, i + 3
        else:
            name, i = head.value[2:], i + 1
    elif head.type in (TokenType.WORD, TokenType.IDENT, TokenType.VARIABLE):
        name, i = head.value, i + 1
        while i + 1 < len(tokens) and tokens[i].value == ".":  # component.variable
            name, i = f"{name}.{tokens[i + 1].value}", i + 2
    else:
        return None
    if i >= len(tokens) or tokens[i].value not in ("=", ":="):
        return None
    return scope, name, tokens[i + 1 :]


def _assign(acc: Acc, ctx: Ctx, tokens: list[Token]) -> None:
    target = _target(tokens)
    if target is None or not target[2]:
        acc.add(Kind.UNKNOWN, "SET: an assignment not read here")
        return
    scope, name, value = target
    _value(acc, value)
    if name.startswith("@"):
        acc.add(Kind.SESSION, f"SET {name}")
        return
    folded = name.casefold()
    literal = _literal(value)
    if scope in _CONFIG_SCOPES:
        acc.add(Kind.CONFIG, f"SET {scope} {folded} changes the server's configuration")
    elif folded == "sql_mode":
        _sql_mode(acc, literal if value[0].type is not TokenType.NUMBER else None)
    elif folded in _CHARSET_VARIABLES:
        results = folded == "character_set_results"
        _charset(acc, value[0] if literal is not None else None, results=results)
    elif folded in _READ_ONLY_VARIABLES:
        if literal is not None and literal.upper() in _TRUE:
            acc.add(Kind.TRANSACTION, f"SET {folded}")
        else:
            acc.add(Kind.CONFIG, f"SET {folded} may make transactions read-write")
    elif folded in _TRANSACTION_VARIABLES:
        acc.add(Kind.TRANSACTION, f"SET {folded}")
    elif folded in SESSION_VARIABLES:
        acc.add(Kind.SESSION, f"SET {folded}")
    else:
        acc.add(Kind.CONFIG, f"SET {folded}")


def _sql_mode(acc: Acc, literal: str | None) -> None:
    if literal is None or literal.upper() == "DEFAULT" or parse_sql_mode(literal) is None:
        acc.add(Kind.CONFIG, "SET sql_mode to a value not read here")
        acc.effects.append(Effect("forget", "sql_mode"))
    else:
        acc.add(Kind.SESSION, f"SET sql_mode = {literal!r}")
        acc.effects.append(effect_set("sql_mode", literal))


def _literal(value: list[Token]) -> str | None:
    """The value of a one-token literal (string, number, word); None for an expression."""
    if len(value) != 1 or value[0].type not in (
        TokenType.STRING,
        TokenType.NUMBER,
        TokenType.WORD,
        TokenType.IDENT,
    ):
        return None
    return value[0].value


def _value(acc: Acc, value: list[Token]) -> None:
    """An expression value: classified as ``SELECT expr`` (a sub-query reads)."""
    if _literal(value) is not None:
        return
    select = Token(TokenType.WORD, "SELECT", value[0].start, value[0].start)
    probe = Acc([select, *value])
    if not dml.query(probe):
        acc.add(Kind.UNKNOWN, "SET: a value not read by the parser")
        return
    for table in probe.tables:
        acc.table(table)
    if probe.tables:
        acc.add(Kind.READ, f"SET reads {', '.join(probe.tables)}")


def _set_statement_for(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    depth = 0
    for i, token in enumerate(tokens):
        if token.type is TokenType.OP and token.value in ("(", ")"):
            depth += 1 if token.value == "(" else -1
        elif depth == 0 and token.is_word("FOR") and i > 2:
            for assignment in _assignments(tokens[2:i]):
                _assign(acc, ctx, assignment)
            # the variables last for this one statement, which the server has already lexed
            # under the session's sql_mode: nothing of them outlives it
            acc.effects.clear()
            nested(acc, ctx, tokens[i + 1 :], "SET STATEMENT ... FOR runs")
            return
    acc.add(Kind.UNKNOWN, "SET STATEMENT without FOR")
