"""Microbenchmark of secret redaction: what it adds per statement to the statement log.

The statement log redacts each distinct text of a batch once, when it flushes the batch. This
measures ``StatementLog.flush`` of a full batch (500 statements, every text distinct: the worst
case, pgbench's) with the PostgreSQL dialect's redactor against one that returns the text as
is, and ``redact`` alone on texts with and without a secret.

no trigger  a text without any trigger word: one search of the lower-cased text
trigger     a text with a trigger word but no secret (md5): a parse and a search of its tree
secret      ALTER ROLE ... PASSWORD: parse, walk, scan, replace

Run: .venv/bin/python tests/bench/redact_bench.py [rounds]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence

from approvals import AuditEntry, Identity, IdentityKind
from gateway.guardrails import Redacted
from gateway.postgres.dialect import POSTGRES
from gateway.sessions import StatementLog

BATCH = 500
TEXTS = {
    "no trigger": "SELECT abalance FROM pgbench_accounts WHERE aid = {n}",
    "quoted, no trigger": "UPDATE users SET name = 'bob {n}' WHERE id = {n}",
    "trigger": "SELECT md5(name) FROM t WHERE id = {n}",
    "secret": "ALTER ROLE app{n} PASSWORD 'hunter2'",
}


class _Sink:
    def submit(self, entry: AuditEntry, *, urgent: bool = False) -> None:
        pass


def _as_is(text: str, params: Sequence[bytes | None] = ()) -> Redacted:
    return Redacted(text, tuple(params))


def _flush_us(redact: Callable[..., Redacted], texts: list[str], rounds: int) -> float:
    """Microseconds per statement of flushing one batch: the fastest of ``rounds`` (the
    machine is shared; the minimum is the cost, the rest is other processes)."""

    async def one() -> float:
        log = StatementLog(
            _Sink(),  # type: ignore[arg-type]
            Identity("bench@example.com", IdentityKind.PERSON),
            "S-1",
            "pg-bench",
            redact=redact,
            max_batch=BATCH + 1,
        )
        for text in texts:
            log.add(text, "ok", "allow", rows=1, size=20, duration_us=50)
        started = time.perf_counter()
        log.flush()
        return (time.perf_counter() - started) * 1e6 / len(texts)

    return min(asyncio.run(one()) for _ in range(rounds))


def main(rounds: int) -> None:
    print(f"statement log flush, {BATCH} distinct texts, us per statement (fastest of {rounds})")
    for name, shape in TEXTS.items():
        texts = [shape.format(n=n) for n in range(BATCH)]
        plain = _flush_us(_as_is, texts, rounds)
        redacted = _flush_us(POSTGRES.redact, texts, rounds)
        print(
            f"  {name:20} as is {plain:6.2f}  redacted {redacted:6.2f}  (+{redacted - plain:.2f})"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
