"""Statements classified by their leading words (MySQL 8.0 Reference Manual 15 "SQL
Statements"; MariaDB "SQL Statements"), with sqlglot (``dml``) for the queries inside them.

Decisions, each in docs/mysql-guardrails.md: reads run; bounded writes run; destructive DDL
(DROP, TRUNCATE, RENAME, ALTER TABLE ... DROP | CHANGE | MODIFY | RENAME, CREATE OR REPLACE)
is ``destroy``; privileges and users ``privilege``; server settings ``config``; what reaches
the server's files, OS, network or replication ``server_escape``; stored programs ``procedural``;
LOCK TABLES, XA, OPTIMIZE / REPAIR, FLUSH ... WITH READ LOCK ``lock``. A first word not known
here is ``unknown``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from gateway.guardrails import Kind
from gateway.mysql.dialect import ddl, dml, prepared, settings
from gateway.mysql.dialect.context import Acc, Ctx, nested
from gateway.mysql.dialect.lexer import Token, TokenType

__all__ = ["dispatch"]

Handler = Callable[[Acc, Ctx], None]


def dispatch(acc: Acc, ctx: Ctx) -> str:
    """Classify ``acc.tokens`` into ``acc``; returns the command's name."""
    first = acc.tokens[0]
    word = first.upper if first.type is TokenType.WORD else first.value
    handler = HANDLERS.get(word)
    if handler is None:
        acc.add(Kind.UNKNOWN, f"statement {word[:40]!r} is not known here")
        return "?"
    handler(acc, ctx)
    return word


def _query(acc: Acc, ctx: Ctx) -> None:
    tree = dml.parse(acc.tokens)
    if isinstance(tree, (exp.Update, exp.Delete)) and acc.tokens[0].is_word("WITH"):
        ctx.shared.literal_sensitive = True  # WITH ... UPDATE | DELETE (MySQL 8): a write
        dml.write(acc, "UPDATE" if isinstance(tree, exp.Update) else "DELETE", tree)
        return
    if tree is None or not dml.query(acc, tree=tree):
        acc.add(Kind.UNKNOWN, "query not read by the parser")


def _write(acc: Acc, ctx: Ctx) -> None:
    command = acc.tokens[0].upper
    if command in ("UPDATE", "DELETE"):
        ctx.shared.literal_sensitive = True  # a pin to a zero is no pin (bounds)
    dml.write(acc, command)


def _explain(acc: Acc, ctx: Ctx) -> None:
    tokens = acc.tokens
    i = 1
    analyze = False
    while i < len(tokens) and tokens[i].is_word("ANALYZE", "EXTENDED", "PARTITIONS", "FORMAT"):
        analyze = analyze or tokens[i].is_word("ANALYZE")
        i += 3 if tokens[i].is_word("FORMAT") else 1
    rest = tokens[i:]
    if rest[:2] and rest[0].is_word("FOR") and rest[1].is_word("CONNECTION"):
        acc.add(Kind.PRIVILEGE, "EXPLAIN FOR CONNECTION shows another session's statement")
        return
    if rest and rest[0].type in (TokenType.WORD, TokenType.IDENT) and not _statement_start(rest):
        acc.table(_dotted(rest, 0)[0])
        acc.add(Kind.READ, "describes a table")
        return
    nested(acc, ctx, rest, "EXPLAIN ANALYZE runs" if analyze else None)


def _analyze(acc: Acc, ctx: Ctx) -> None:
    """MariaDB's ``ANALYZE stmt`` runs the statement; ``ANALYZE TABLE`` updates statistics."""
    rest = acc.tokens[1:]
    while rest and rest[0].is_word("FORMAT"):
        rest = rest[3:]
    if rest and rest[0].is_word("TABLE", "NO_WRITE_TO_BINLOG", "LOCAL"):
        acc.add(Kind.READ, "ANALYZE TABLE updates index statistics")
        return
    nested(acc, ctx, rest, "ANALYZE runs")


def _statement_start(tokens: list[Token]) -> bool:
    return tokens[0].value == "(" or tokens[0].upper in HANDLERS


_PRIVATE_SHOWS = (
    ("GRANTS",),
    ("CREATE", "USER"),
    ("PROCESSLIST",),
    ("FULL", "PROCESSLIST"),
    ("BINLOG", "EVENTS"),
    ("RELAYLOG", "EVENTS"),
    ("ENGINE",),
    ("ENGINES",),
    ("EXPLAIN",),
    ("ANALYZE",),
)


def _show(acc: Acc, ctx: Ctx) -> None:
    words = acc.words(1, 3)
    for prefix in _PRIVATE_SHOWS:
        if words[: len(prefix)] == list(prefix) and prefix != ("ENGINES",):
            what = " ".join(prefix)
            acc.add(Kind.PRIVILEGE, f"SHOW {what} reveals credentials or other sessions' work")
            return
    acc.add(Kind.READ, f"SHOW {' '.join(words[:2])}".strip())


def _use(acc: Acc, ctx: Ctx) -> None:
    if len(acc.tokens) != 2 or acc.tokens[1].type not in (TokenType.WORD, TokenType.IDENT):
        acc.add(Kind.UNKNOWN, "USE without a plain database name")
        return
    acc.add(Kind.SESSION, "USE selects a database")
    acc.effects.append(settings.effect_set("database", acc.tokens[1].value))


def _begin(acc: Acc, ctx: Ctx) -> None:
    words = acc.words(1, 2)
    if not words or words == ["WORK"]:
        acc.add(Kind.TRANSACTION, "BEGIN")
    else:
        acc.add(Kind.PROCEDURAL, "BEGIN ... END: a compound statement (MariaDB BEGIN NOT ATOMIC)")


def _start(acc: Acc, ctx: Ctx) -> None:
    words = acc.words(1, 2)
    if words[:1] == ["TRANSACTION"]:
        if "WRITE" in [t.upper for t in acc.tokens]:
            acc.add(Kind.CONFIG, "START TRANSACTION READ WRITE may undo a read-only default")
        else:
            acc.add(Kind.TRANSACTION, "START TRANSACTION")
    elif words[:1] and words[0] in ("SLAVE", "REPLICA", "GROUP_REPLICATION", "ALL"):
        acc.add(Kind.SERVER_ESCAPE, f"START {words[0]} controls replication")
    else:
        acc.add(Kind.UNKNOWN, f"START {' '.join(words)}")


def _stop(acc: Acc, ctx: Ctx) -> None:
    acc.add(Kind.SERVER_ESCAPE, f"STOP {' '.join(acc.words(1, 1))} controls replication")


def _kind(kind: Kind, detail: str) -> Handler:
    def handle(acc: Acc, ctx: Ctx) -> None:
        acc.add(kind, detail)

    return handle


def _lock(acc: Acc, ctx: Ctx) -> None:
    acc.add(Kind.LOCK, f"LOCK {' '.join(acc.words(1, 2))} takes locks until UNLOCK".strip())


def _flush(acc: Acc, ctx: Ctx) -> None:
    words = [t.upper for t in acc.tokens]
    if "LOCK" in words or "EXPORT" in words:
        acc.add(Kind.LOCK, "FLUSH TABLES ... WITH READ LOCK / FOR EXPORT locks tables")
    else:
        acc.add(Kind.CONFIG, f"FLUSH {' '.join(words[1:3])} reloads server state")


def _reset(acc: Acc, ctx: Ctx) -> None:
    words = acc.words(1, 2)
    if words[:1] and words[0] in ("MASTER", "SLAVE", "REPLICA", "BINARY"):
        acc.add(Kind.SERVER_ESCAPE, f"RESET {words[0]} deletes logs or replication state")
    else:
        acc.add(Kind.CONFIG, f"RESET {' '.join(words)}".strip())


def _install(acc: Acc, ctx: Ctx) -> None:
    verb = acc.tokens[0].upper
    words = acc.words(1, 1)
    if words == ["COMPONENT"]:
        acc.add(Kind.CONFIG, f"{verb} COMPONENT changes the server's configuration")
    else:
        acc.add(Kind.SERVER_ESCAPE, f"{verb} {' '.join(words)} loads or unloads server code")


def _load(acc: Acc, ctx: Ctx) -> None:
    words = acc.words(1, 1)
    if words == ["INDEX"]:
        acc.add(Kind.CONFIG, "LOAD INDEX INTO CACHE changes the key cache")
    else:
        acc.add(Kind.SERVER_ESCAPE, f"LOAD {' '.join(words)} reads a file into a table")


def _do(acc: Acc, ctx: Ctx) -> None:
    select = [Token(TokenType.WORD, "SELECT", acc.tokens[0].start, acc.tokens[0].end)]
    if not dml.query(acc, [*select, *acc.tokens[1:]]):
        acc.add(Kind.UNKNOWN, "DO expression not read by the parser")


def _handler(acc: Acc, ctx: Ctx) -> None:
    if len(acc.tokens) < 3:
        acc.add(Kind.UNKNOWN, "HANDLER statement too short")
        return
    name, _ = _dotted(acc.tokens, 1)
    words = [t.upper for t in acc.tokens]
    acc.table(name)
    if "READ" in words:
        acc.add(Kind.READ, f"HANDLER ... READ reads {name}")
    else:
        acc.add(Kind.SESSION, f"HANDLER {name} OPEN / CLOSE")


def _dotted(tokens: list[Token], i: int) -> tuple[str, int]:
    """A possibly qualified name at ``i``: (``db.name`` or ``name``, index after it)."""
    parts = [tokens[i].value]
    i += 1
    while i + 1 < len(tokens) and tokens[i].value == "." and tokens[i].type is TokenType.OP:
        parts.append(tokens[i + 1].value)
        i += 2
    return ".".join(parts), i


HANDLERS: dict[str, Handler] = {
    "SELECT": _query,
    "WITH": _query,
    "VALUES": _query,
    "TABLE": _query,
    "(": _query,
    "INSERT": _write,
    "REPLACE": _write,
    "UPDATE": _write,
    "DELETE": _write,
    "EXPLAIN": _explain,
    "DESCRIBE": _explain,
    "DESC": _explain,
    "ANALYZE": _analyze,
    "SHOW": _show,
    "HELP": _kind(Kind.READ, "HELP reads the help tables"),
    "CHECK": _kind(Kind.READ, "CHECK TABLE reads tables"),
    "CHECKSUM": _kind(Kind.READ, "CHECKSUM TABLE reads tables"),
    "USE": _use,
    "SET": settings.set_statement,
    "BEGIN": _begin,
    "START": _start,
    "STOP": _stop,
    "COMMIT": _kind(Kind.TRANSACTION, "COMMIT"),
    "ROLLBACK": _kind(Kind.TRANSACTION, "ROLLBACK"),
    "SAVEPOINT": _kind(Kind.TRANSACTION, "SAVEPOINT"),
    "RELEASE": _kind(Kind.TRANSACTION, "RELEASE SAVEPOINT"),
    "XA": _kind(Kind.LOCK, "XA: a two-phase commit transaction"),
    "LOCK": _lock,
    "UNLOCK": _kind(Kind.TRANSACTION, "UNLOCK releases locks"),
    "BACKUP": _kind(Kind.LOCK, "BACKUP STAGE / LOCK blocks writes"),
    "OPTIMIZE": _kind(Kind.LOCK, "OPTIMIZE TABLE rebuilds and locks tables"),
    "REPAIR": _kind(Kind.LOCK, "REPAIR TABLE rewrites and locks tables"),
    "GRANT": _kind(Kind.PRIVILEGE, "GRANT"),
    "REVOKE": _kind(Kind.PRIVILEGE, "REVOKE"),
    "CREATE": ddl.create,
    "ALTER": ddl.alter,
    "DROP": ddl.drop,
    "RENAME": ddl.rename,
    "TRUNCATE": ddl.truncate,
    "PREPARE": prepared.prepare,
    "EXECUTE": prepared.execute,
    "DEALLOCATE": prepared.deallocate,
    "DO": _do,
    "CALL": _kind(Kind.PROCEDURAL, "CALL runs a stored procedure"),
    "HANDLER": _handler,
    "LOAD": _load,
    "CACHE": _kind(Kind.CONFIG, "CACHE INDEX changes the key cache"),
    "FLUSH": _flush,
    "RESET": _reset,
    "PURGE": _kind(Kind.SERVER_ESCAPE, "PURGE BINARY LOGS deletes the server's binary logs"),
    "CHANGE": _kind(Kind.SERVER_ESCAPE, "CHANGE MASTER / REPLICATION points replication"),
    "BINLOG": _kind(Kind.SERVER_ESCAPE, "BINLOG replays raw binary-log events"),
    "SHUTDOWN": _kind(Kind.SERVER_ESCAPE, "SHUTDOWN stops the server"),
    "RESTART": _kind(Kind.SERVER_ESCAPE, "RESTART restarts the server"),
    "KILL": _kind(Kind.SERVER_ESCAPE, "KILL ends another session or its statement"),
    "INSTALL": _install,
    "UNINSTALL": _install,
    "CLONE": _kind(Kind.SERVER_ESCAPE, "CLONE copies a server's data over the network"),
    "IMPORT": _kind(Kind.SERVER_ESCAPE, "IMPORT TABLE reads server files"),
    "SIGNAL": _kind(Kind.SESSION, "SIGNAL raises an error"),
    "RESIGNAL": _kind(Kind.SESSION, "RESIGNAL raises an error"),
    "GET": _kind(Kind.SESSION, "GET DIAGNOSTICS reads the diagnostics area"),
}
