"""Microbenchmark of the SQL guardrails: µs per evaluate, cold and cached.

cold      Guardrails.evaluate with an empty cache (fingerprint, parse, walk, rules)
classify  classify() alone (parse + walk), no rules, no cache
parse     libpg_query parse_sql_json + JSON decoding alone: the floor for any cold path
literal   a new literal each time: single statements are served by the fingerprint key
          after the first; multi-statement texts are never fingerprinted (so: cold)
cached    the same text again: one dict lookup and the state comparison

MySQL (gateway.mysql.dialect, sqlglot behind the lexer pre-pass; its rule set keeps only the
exact-text cache):

cold      RuleSet.evaluate with an empty cache (lex, render, sqlglot, scan, rules)
classify  classify() alone, no rules, no cache
lex       the lexer pre-pass alone (tokens, split, canonical rendering)
parse     sqlglot.parse of the canonical text alone
literal   a new literal each time: a single SELECT / INSERT is served by its literal shape
          after the first; writes and multi-statement texts are classified (so: cold)
cached    the same text again

Run: .venv/bin/python tests/bench/guardrails_bench.py [iterations]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import sqlglot
from pglast import parser

from gateway.guardrails import RuleSet
from gateway.mysql.dialect import MYSQL, MySQLState
from gateway.mysql.dialect import classify as my_classify
from gateway.mysql.dialect.lexer import lex, render, split
from gateway.postgres.dialect import Guardrails, SessionState, classify
from gateway.postgres.dialect.classify import loads

STATEMENTS = {
    "short select": "SELECT * FROM users WHERE id = {n}",
    "join": (
        "SELECT o.id, o.total, c.name, lower(c.email) FROM orders o "
        "JOIN customers c ON c.id = o.customer_id "
        "LEFT JOIN payments p ON p.order_id = o.id AND p.state = 'ok' "
        "WHERE o.created_at > now() - interval '7 days' AND c.country IN ('DE', 'FR') "
        "ORDER BY o.total DESC LIMIT {n}"
    ),
    "multi-statement": (
        "BEGIN; UPDATE accounts SET balance = balance - 10 WHERE id = {n}; "
        "UPDATE accounts SET balance = balance + 10 WHERE id = 2; "
        "INSERT INTO ledger (src, dst, amount) VALUES (1, 2, 10); COMMIT"
    ),
}


def _per_call(fn: Callable[[int], object], iterations: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(iterations):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / iterations * 1e6


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    state = SessionState()
    print(f"{'statement':18} {'cold':>8} {'classify':>9} {'parse':>7} {'literal':>8} {'cached':>7}")
    for label, template in STATEMENTS.items():
        guardrails = Guardrails()
        sql = template.format(n=42)

        def cold(_: int, g: Guardrails = guardrails, s: str = sql) -> object:
            g.clear()
            return g.evaluate(s, state)

        def classify_only(_: int, s: str = sql) -> object:
            return classify(s, state)

        def parse_only(_: int, s: str = sql) -> object:
            return loads(parser.parse_sql_json(s))

        def literal(i: int, g: Guardrails = guardrails, t: str = template) -> object:
            return g.evaluate(t.format(n=i + 1000), state)

        def cached(_: int, g: Guardrails = guardrails, s: str = sql) -> object:
            return g.evaluate(s, state)

        times = [
            _per_call(cold, iterations),
            _per_call(classify_only, iterations),
            _per_call(parse_only, iterations),
            _per_call(literal, iterations, repeat=1),
            _per_call(cached, iterations * 10),
        ]
        print(f"{label:18} " + " ".join(f"{t:8.1f}" for t in times) + "   µs")
    mysql(iterations)


MYSQL_STATEMENTS = {
    "short select": "SELECT * FROM users WHERE id = 42",
    "join": (
        "SELECT o.id, o.total, c.name, LOWER(c.email) FROM orders o "
        "JOIN customers c ON c.id = o.customer_id "
        "LEFT JOIN payments p ON p.order_id = o.id AND p.state = 'ok' "
        "WHERE o.created_at > NOW() - INTERVAL 7 DAY AND c.country IN ('DE', 'FR') "
        "ORDER BY o.total DESC LIMIT 42"
    ),
    "multi-statement": (
        "BEGIN; UPDATE accounts SET balance = balance - 10 WHERE id = 42; "
        "UPDATE accounts SET balance = balance + 10 WHERE id = 2; "
        "INSERT INTO ledger (src, dst, amount) VALUES (1, 2, 10); COMMIT"
    ),
}


def mysql(iterations: int) -> None:
    """The same three shapes through the MySQL dialect."""
    state = MySQLState()
    head = f"{'cold':>8} {'classify':>9} {'lex':>7} {'parse':>7} {'literal':>8} {'cached':>7}"
    print(f"\nmysql {'statement':12} {head}")
    for label, sql in MYSQL_STATEMENTS.items():
        guardrails = MYSQL.guardrails([])
        rendered = [render(t) for t, _ in split(lex(sql), len(sql))]

        def cold(_: int, g: RuleSet[MySQLState] = guardrails, s: str = sql) -> object:
            g.clear()
            return g.evaluate(s, state)

        def classify_only(_: int, s: str = sql) -> object:
            return my_classify(s, state)

        def lex_only(_: int, s: str = sql) -> object:
            return [render(t) for t, _ in split(lex(s), len(s))]

        def parse_only(_: int, texts: list[str] = rendered) -> object:
            return [sqlglot.parse(t, read="mysql") for t in texts]

        def literal(i: int, g: RuleSet[MySQLState] = guardrails, s: str = sql) -> object:
            return g.evaluate(s.replace("42", str(i + 1000)), state)

        def cached(_: int, g: RuleSet[MySQLState] = guardrails, s: str = sql) -> object:
            return g.evaluate(s, state)

        times = [
            _per_call(cold, iterations),
            _per_call(classify_only, iterations),
            _per_call(lex_only, iterations),
            _per_call(parse_only, iterations),
            _per_call(literal, iterations, repeat=1),
            _per_call(cached, iterations * 10),
        ]
        print(f"mysql {label:12} " + " ".join(f"{t:8.1f}" for t in times) + "   µs")


if __name__ == "__main__":
    main()
