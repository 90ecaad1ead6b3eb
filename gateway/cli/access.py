"""``airlock access-review report``: who holds what, last used, through which agents, kept or
revoked by whom (reads the store; the same lines as the weekly digest, plus their history)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from datetime import UTC, datetime

from gateway.errors import UsageError

__all__ = ["add_commands"]


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415  (each command imports what it uses)

    from gateway.api.access_reviews import access_report, owned_by, report_csv  # noqa: PLC0415
    from gateway.config import load_settings  # noqa: PLC0415
    from gateway.store_schema import existing_store  # noqa: PLC0415
    from store import Database  # noqa: PLC0415

    settings = load_settings(args.config)
    connections = {c.name: c.policy() for c in settings.connections}
    if args.owner is not None:
        connections = owned_by(connections, args.owner)
        if not connections:
            raise UsageError(f"{args.owner} owns no configured connection")
    now = datetime.now(UTC)

    async def run() -> list[dict[str, object]]:
        await existing_store(settings.store.url)
        async with Database(settings.store.url) as database:
            return await access_report(database, connections, now, settings.scheduler.unused_after)

    rows = asyncio.run(run())
    if args.format == "csv":
        text = report_csv(rows)
    else:
        text = json.dumps({"generated_at": now.isoformat(), "lines": rows}, indent=2) + "\n"
    target = open(args.output, "w", encoding="utf-8", newline="") if args.output else None  # noqa: SIM115
    with target if target is not None else nullcontext(sys.stdout) as out:
        out.write(text)
    print(f"{len(rows)} lines on {len(connections)} connections", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = sub.add_parser("access-review", help="access reviews").add_subparsers(
        dest="access_review", required=True
    )
    report = review.add_parser("report", help="who holds what, last used, recertified by whom")
    report.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    report.add_argument("--owner", help="only the connections this owner (or channel) owns")
    report.add_argument("--format", choices=["json", "csv"], default="json")
    report.add_argument("--output", "-o", help="file to write (default: standard output)")
    report.set_defaults(func=cmd_report)
