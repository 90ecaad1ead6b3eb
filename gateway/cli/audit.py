"""``airlock audit verify|export``: check the hash chain, export for a SIEM (reads the store)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TextIO

from gateway.config import load_settings
from gateway.runtime import existing_store
from store import AuditFilter, Database, export_audit, verify

__all__ = ["add_commands"]


def cmd_verify(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)

    async def run() -> int:
        await existing_store(settings.store.url)
        async with Database(settings.store.url) as database:
            result = await verify(database)
        if result.ok:
            print(f"audit chain intact: {result.checked} events, head {result.head_hash}")
            return 0
        print(
            f"audit chain BROKEN at event {result.first_bad_seq}: {result.problem} "
            f"({result.checked} events checked)",
            file=sys.stderr,
        )
        return 1

    return asyncio.run(run())


def cmd_export(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    where = AuditFilter(
        identity=args.identity,
        actor_in_chain=args.actor,
        connection=args.connection,
        since=args.since,
        until=args.until,
    )

    async def run(out: TextIO) -> int:
        await existing_store(settings.store.url)
        async with Database(settings.store.url) as database:
            return await export_audit(database, out, args.format, where)

    target = open(args.output, "w", encoding="utf-8", newline="") if args.output else None  # noqa: SIM115
    with target if target is not None else nullcontext(sys.stdout) as out:
        count = asyncio.run(run(out))
    print(f"exported {count} audit events", file=sys.stderr)
    return 0


def _when(text: str) -> datetime:
    """An ISO 8601 time; one without an offset is UTC (the audit trail keeps UTC)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit", required=True
    )
    check = audit.add_parser("verify", help="check the hash chain; names the first bad event")
    check.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    check.set_defaults(func=cmd_verify)
    export = audit.add_parser("export", help="export events as JSON Lines or CSV")
    export.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.add_argument("--identity", help="the chain's original subject")
    export.add_argument("--actor", help="anyone anywhere in the actor chain")
    export.add_argument("--connection")
    export.add_argument("--since", type=_when, help="ISO 8601 time; UTC unless it says")
    export.add_argument("--until", type=_when, help="ISO 8601 time; UTC unless it says")
    export.set_defaults(func=cmd_export)
