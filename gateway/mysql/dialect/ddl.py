"""CREATE, ALTER, DROP, RENAME and TRUNCATE (MySQL 8.0 Reference Manual 15.1 "Data Definition
Statements"; MariaDB's CREATE OR REPLACE, sequences and packages).

- ``destroy`` (held): DROP of data or code, TRUNCATE, RENAME TABLE, ``CREATE OR REPLACE``
  (it drops what was there), ALTER VIEW (replaces a definition), ALTER TABLE with DROP, CHANGE,
  MODIFY, RENAME, CONVERT TO CHARACTER SET, DISCARD, TRUNCATE / REMOVE / COALESCE / REORGANIZE /
  EXCHANGE PARTITION, ENGINE = BLACKHOLE (each can lose data or a name).
- ``ddl`` (runs): CREATE TABLE / INDEX / DATABASE / VIEW / SEQUENCE, other ALTER TABLE actions.
- ``privilege``: users and roles; a ``DEFINER`` other code runs as; ``SQL SECURITY DEFINER``.
- ``procedural``: stored procedures, functions, triggers, events, packages.
- ``server_escape`` (blocked): a table whose data lives elsewhere (``ENGINE = FEDERATED |
  CONNECT``, ``CONNECTION = '...'``, ``DATA | INDEX DIRECTORY``), servers, tablespaces with
  their data files, ``IMPORT TABLESPACE``, UDFs (``SONAME``, found by the token scan).
- ``config``: ALTER INSTANCE, resource groups, log file groups.
"""

from __future__ import annotations

from gateway.guardrails import Kind
from gateway.mysql.dialect import dml
from gateway.mysql.dialect.context import Acc, Ctx
from gateway.mysql.dialect.lexer import Token, TokenType
from gateway.mysql.dialect.prepared import deallocate

__all__ = ["alter", "create", "drop", "rename", "truncate"]

_CODE = frozenset(["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE", "AGGREGATE"])
_DESTROYING_ACTIONS = frozenset(
    [
        "DROP", "CHANGE", "MODIFY", "RENAME", "CONVERT", "DISCARD", "TRUNCATE", "REMOVE",
        "COALESCE", "REORGANIZE", "EXCHANGE",
    ]
)  # fmt: skip
_ESCAPE_ENGINES = frozenset(["FEDERATED", "CONNECT", "FEDERATEDX", "SPIDER"])
_OBJECT_WORDS = frozenset(
    ["TABLE", "VIEW", "INDEX", "DATABASE", "SCHEMA", "SEQUENCE", "USER", "ROLE", "SERVER",
     "TABLESPACE", "LOGFILE", "RESOURCE", "INSTANCE", "SPATIAL", "UNIQUE", "FULLTEXT",
     "TEMPORARY", *_CODE]
)  # fmt: skip


def _object(acc: Acc) -> tuple[str, int, bool, bool]:
    """(object word, its index, OR REPLACE, DEFINER / SQL SECURITY DEFINER present)."""
    tokens = acc.tokens
    replace = definer = False
    for i, token in enumerate(tokens[1:], start=1):
        upper = token.upper if token.type is TokenType.WORD else ""
        if upper == "REPLACE" and tokens[i - 1].is_word("OR"):
            replace = True
        elif upper == "DEFINER" or (
            upper == "SECURITY" and i + 1 < len(tokens) and tokens[i + 1].is_word("DEFINER")
        ):
            definer = True
        elif upper in _OBJECT_WORDS:
            return upper, i, replace, definer
    return "?", len(tokens), replace, definer


def _name_after(tokens: list[Token], i: int) -> str | None:
    """The (qualified) name after the object word at ``i``, skipping IF [NOT] EXISTS."""
    i += 1
    while i < len(tokens) and tokens[i].is_word("IF", "NOT", "EXISTS", "TABLE"):
        i += 1
    if i >= len(tokens) or tokens[i].type not in (TokenType.WORD, TokenType.IDENT):
        return None
    parts = [tokens[i].value]
    while i + 2 < len(tokens) and tokens[i + 1].value == "." and tokens[i + 1].type is TokenType.OP:
        parts.append(tokens[i + 2].value)
        i += 2
    return ".".join(parts)


def _table_options(acc: Acc) -> None:
    tokens = acc.tokens
    for i, token in enumerate(tokens):
        following = tokens[i + 1 : i + 3]
        if token.is_word("ENGINE") and following:
            engine = (
                following[1] if following[0].value == "=" and len(following) > 1 else following[0]
            )
            if engine.value.upper() in _ESCAPE_ENGINES:
                acc.add(Kind.SERVER_ESCAPE, f"ENGINE {engine.value.upper()} reads data elsewhere")
        elif token.is_word("CONNECTION") and following and following[0].type is not TokenType.WORD:
            acc.add(Kind.SERVER_ESCAPE, "CONNECTION points a table at another server")
        elif token.is_word("DATA", "INDEX") and following[:1] and following[0].is_word("DIRECTORY"):
            acc.add(Kind.SERVER_ESCAPE, "DATA / INDEX DIRECTORY writes files at a server path")
        elif token.is_word("DATAFILE", "UNDOFILE"):
            acc.add(Kind.SERVER_ESCAPE, "a data file at a server path")


def _query_part(acc: Acc, start: int) -> None:
    """The query of CREATE TABLE ... SELECT / CREATE VIEW ... AS: from its first SELECT,
    WITH, VALUES, TABLE or ``(`` at depth 0 after ``start``."""
    tokens = acc.tokens
    depth = 0
    for i in range(start, len(tokens)):
        token = tokens[i]
        if token.type is TokenType.OP and token.value in ("(", ")"):
            if (
                token.value == "("
                and depth == 0
                and i + 1 < len(tokens)
                and tokens[i + 1].is_word("SELECT", "WITH")
            ):
                break
            depth += 1 if token.value == "(" else -1
        elif depth == 0 and token.is_word("SELECT", "WITH", "VALUES", "TABLE") and i > start:
            break
    else:
        return
    if not dml.query(acc, tokens[i:]):
        acc.add(Kind.UNKNOWN, "the query of a CREATE not read by the parser")


def create(acc: Acc, ctx: Ctx) -> None:
    """CREATE of any object."""
    word, at, replace, definer = _object(acc)
    name = _name_after(acc.tokens, at)
    if definer:
        acc.add(Kind.PRIVILEGE, "DEFINER / SQL SECURITY DEFINER: code runs as another account")
    if replace:
        acc.add(Kind.DESTROY, f"CREATE OR REPLACE {word} drops what was there")
    if word in _CODE:
        acc.add(Kind.PROCEDURAL, f"CREATE {word}: stored code")
    elif word in ("USER", "ROLE"):
        acc.add(Kind.PRIVILEGE, f"CREATE {word}")
    elif word in ("SERVER", "TABLESPACE", "LOGFILE"):
        acc.add(Kind.SERVER_ESCAPE, f"CREATE {word} names files or servers outside the database")
    elif word in ("RESOURCE", "INSTANCE"):
        acc.add(Kind.CONFIG, f"CREATE {word}")
    elif word == "?":
        acc.add(Kind.UNKNOWN, "CREATE of an object not known here")
    else:
        if word in ("TABLE", "TEMPORARY", "VIEW") and name is not None:
            acc.table(name)
        acc.add(Kind.DDL, f"CREATE {word}" + (f" {name}" if name else ""))
        _table_options(acc)
        if word in ("TABLE", "TEMPORARY", "VIEW"):
            _query_part(acc, at + 1)


def alter(acc: Acc, ctx: Ctx) -> None:
    """ALTER of any object."""
    word, at, _, definer = _object(acc)
    name = _name_after(acc.tokens, at)
    if definer:
        acc.add(Kind.PRIVILEGE, "DEFINER / SQL SECURITY DEFINER: code runs as another account")
    if word in ("TABLE", "TEMPORARY"):
        if name is not None:
            acc.table(name)
        actions = {t.upper for t in acc.tokens[at + 1 :] if t.type is TokenType.WORD}
        lost = sorted(actions & _DESTROYING_ACTIONS)
        if "BLACKHOLE" in {t.value.upper() for t in acc.tokens[at + 1 :]}:
            lost.append("ENGINE = BLACKHOLE (discards every row)")
        if "IMPORT" in actions:
            acc.add(Kind.SERVER_ESCAPE, "IMPORT TABLESPACE reads server files")
        if lost:
            acc.add(Kind.DESTROY, f"ALTER TABLE {name} {', '.join(lost)}")
        else:
            acc.add(Kind.DDL, f"ALTER TABLE {name}")
        _table_options(acc)
    elif word == "VIEW":
        if name is not None:
            acc.table(name)
        acc.add(Kind.DESTROY, f"ALTER VIEW {name} replaces its definition")
        _query_part(acc, at + 1)
    elif word in _CODE:
        acc.add(Kind.PROCEDURAL, f"ALTER {word}: stored code")
    elif word in ("USER", "ROLE"):
        acc.add(Kind.PRIVILEGE, f"ALTER {word}")
    elif word == "SERVER":
        acc.add(Kind.SERVER_ESCAPE, "ALTER SERVER points at another server")
    elif word in ("DATABASE", "SCHEMA", "SEQUENCE", "INDEX"):
        acc.add(Kind.DDL, f"ALTER {word}")
    elif word in ("INSTANCE", "RESOURCE", "TABLESPACE", "LOGFILE"):
        acc.add(Kind.CONFIG, f"ALTER {word}")
    else:
        acc.add(Kind.UNKNOWN, "ALTER of an object not known here")


def drop(acc: Acc, ctx: Ctx) -> None:
    """DROP of any object (DROP PREPARE is DEALLOCATE)."""
    if acc.words(1, 1) == ["PREPARE"]:
        deallocate(acc, ctx)
        return
    word, at, _, _ = _object(acc)
    if word in ("USER", "ROLE"):
        acc.add(Kind.PRIVILEGE, f"DROP {word}")
        return
    if word == "?":
        acc.add(Kind.UNKNOWN, "DROP of an object not known here")
        return
    if word in ("TABLE", "TEMPORARY", "VIEW"):
        _names(acc, at + 1)
    acc.add(Kind.DESTROY, f"DROP {word}")


def _names(acc: Acc, i: int) -> None:
    """The comma-separated names of DROP TABLE / RENAME TABLE."""
    tokens = acc.tokens
    while i < len(tokens):
        if tokens[i].type in (TokenType.WORD, TokenType.IDENT) and not tokens[i].is_word(
            "IF", "EXISTS", "TABLE", "TO", "RESTRICT", "CASCADE"
        ):
            parts = [tokens[i].value]
            while i + 2 < len(tokens) and tokens[i + 1].value == ".":
                parts.append(tokens[i + 2].value)
                i += 2
            acc.table(".".join(parts))
        i += 1


def rename(acc: Acc, ctx: Ctx) -> None:
    """RENAME TABLE / RENAME USER."""
    words = acc.words(1, 1)
    if words == ["USER"]:
        acc.add(Kind.PRIVILEGE, "RENAME USER")
    elif words in (["TABLE"], ["TABLES"]):
        _names(acc, 2)
        acc.add(Kind.DESTROY, "RENAME TABLE moves a table's name")
    else:
        acc.add(Kind.UNKNOWN, "RENAME of an object not known here")


def truncate(acc: Acc, ctx: Ctx) -> None:
    """TRUNCATE [TABLE] t."""
    _names(acc, 1)
    acc.add(Kind.DESTROY, "TRUNCATE empties a table")
