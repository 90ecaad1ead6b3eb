"""The statement journal's cost per statement, alone: what ``forwarding`` adds before a
statement is forwarded (gateway/sessions/journal.py), without the rest of the gateway.

Run:  .venv/bin/python tests/bench/journal_bench.py [--statements N] [--rounds R]
(not a test). For each round it journals N statements of one session (a text it repeats, as a
steady session does; a new text every 100th statement) through ``StatementLog.forwarding`` and
through ``SessionJournal.ran`` directly, and N statements whose literals all differ (each a
text new to the session, as pgbench -S sends them in the simple protocol), in a fresh journal
in a temporary directory (segments rotate as they fill), and prints the median microseconds
per statement, and the same loop calling a no-op function (the loop's own cost, to subtract).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from approvals import Actor, Identity
from gateway.postgres.dialect import POSTGRES
from gateway.sessions import Journal, StatementLog

TEXT = "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"


def _per_call(call: Callable[[str], object], texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        call(text)
    return (time.perf_counter() - started) / len(texts) * 1e6


def _noop(_text: str) -> bool:
    return True


async def _round(count: int) -> tuple[float, float, float, float]:
    texts = [TEXT if k % 100 else f"{TEXT} -- {k}" for k in range(count)]
    identity = Identity("bench@example.com", actors=(Actor("agent"),))
    with tempfile.TemporaryDirectory() as directory:
        journal = Journal(Path(directory), segment_bytes=8 << 20)
        journal.open()
        try:
            log = StatementLog(
                None,  # type: ignore[arg-type]  # nothing is flushed in this loop
                identity,
                "bench-session",
                "pg-bench",
                redact=POSTGRES.redact,
                journal=journal.session(
                    "bench-session", identity, "pg-bench", redact=POSTGRES.redact
                ),
            )
            forwarding = _per_call(log.forwarding, texts)
            direct = journal.session("bench-direct", identity, "pg-bench")
            ran = _per_call(direct.ran, texts)
            literals = journal.session(
                "bench-literals", identity, "pg-bench", redact=POSTGRES.redact
            )
            new = _per_call(literals.ran, [f"{TEXT[:-7]}{k};" for k in range(count)])
            loop = _per_call(_noop, texts)
        finally:
            journal.close()
    return forwarding, ran, new, loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = [asyncio.run(_round(args.statements)) for _ in range(args.rounds)]
    medians = (statistics.median(column) for column in zip(*results, strict=True))
    forwarding, ran, new, loop = medians
    print(f"{args.rounds} rounds of {args.statements:,} statements, medians per statement:")
    print(f"  StatementLog.forwarding  {forwarding:6.3f} us  ({forwarding - loop:.3f} us net)")
    print(f"  SessionJournal.ran       {ran:6.3f} us  ({ran - loop:.3f} us net)")
    print(f"  every text new           {new:6.3f} us  ({new - loop:.3f} us net)")
    print(f"  the loop alone           {loop:6.3f} us")


if __name__ == "__main__":
    main()
