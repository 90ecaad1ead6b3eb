"""``airlock audit verify|checkpoint|keygen|export``: check the hash chain against its signed
checkpoints and the reviews and decisions against their events; sign the head now; make a
checkpoint key; export for a SIEM. All read the store directly."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from gateway.errors import UsageError

if TYPE_CHECKING:  # each command imports what it uses: `airlock --help` stays quick
    from store.anchor_check import AnchorReport
    from store.chain import VerifyResult
    from store.checkpoints import CheckpointLine, PublicCheckpointKey

__all__ = ["add_commands"]


def cmd_verify(args: argparse.Namespace) -> int:
    """Check the chain, its checkpoints and the reviews' agreement with their events. A SQLite
    store at the current schema is read with the standard library (:mod:`store.sqlite_audit`);
    any other store through the store's engine. Both feed the same checks."""
    from gateway.anchoring import checkpoint_path, public_key  # noqa: PLC0415
    from gateway.config import load_settings  # noqa: PLC0415
    from gateway.store_schema import current_sqlite_file  # noqa: PLC0415

    settings = load_settings(args.config)
    sources = [Path(p) for p in args.checkpoints or ()]
    anchored = checkpoint_path(settings)
    if anchored is not None:
        sources.insert(0, anchored)
    key = public_key(settings) if sources else None
    path = current_sqlite_file(settings.store.url)
    if path is None:
        chain, report, found = _verify_through_the_store(settings.store.url, sources, key)
    else:
        from store.sqlite_audit import verify_file  # noqa: PLC0415

        lines = _read_all(sources, key) if key is not None else None
        verdict = verify_file(path, lines)
        chain, report, found = verdict.chain, verdict.anchor, verdict.disagreements
    bad = _print_chain(chain) | (report is not None and _print_anchor(report, sources))
    if report is None:
        print(
            "checkpoints: none configured ([audit] checkpoint_file): the chain alone "
            "cannot show a rewrite by someone who can write the store"
        )
    for line in found:
        print(f"disagrees: {line}", file=sys.stderr)
    if not found:
        print("reviews and decisions agree with their audit events")
    return 1 if bad or found else 0


def _verify_through_the_store(
    url: str, sources: list[Path], key: PublicCheckpointKey | None
) -> tuple[VerifyResult, AnchorReport | None, list[str]]:
    """The chain, its checkpoints' verdict and the disagreements, read through the store's
    engine (any store; a SQLite one is first brought to the current schema)."""
    import asyncio  # noqa: PLC0415  (each command imports what it uses)

    from gateway.store_schema import existing_store  # noqa: PLC0415
    from store import Database, disagreements, verify, verify_anchored  # noqa: PLC0415

    async def run() -> tuple[VerifyResult, AnchorReport | None, list[str]]:
        await existing_store(url)
        lines = await asyncio.to_thread(_read_all, sources, key)
        async with Database(url) as database:
            if key is None:
                chain, report = await verify(database), None
            else:
                report = await verify_anchored(database, lines)
                chain = report.chain
            return chain, report, await disagreements(database)

    return asyncio.run(run())


def _read_all(sources: list[Path], key: PublicCheckpointKey | None) -> list[CheckpointLine]:
    from store.checkpoints import read_checkpoints  # noqa: PLC0415

    if key is None:
        return []
    lines: list[CheckpointLine] = []
    for path in sources:
        if path.exists():
            lines += read_checkpoints(path, key)
    return lines


def _print_chain(result: VerifyResult) -> bool:
    """Print the chain's own verdict; True when it is broken."""
    if result.ok:
        print(f"audit chain intact: {result.checked} events, head {result.head_hash}")
        return False
    print(
        f"audit chain BROKEN at event {result.first_bad_seq}: {result.problem} "
        f"({result.checked} events checked)",
        file=sys.stderr,
    )
    return True


def _print_anchor(report: AnchorReport, sources: list[Path]) -> bool:
    """Print the checkpoints' verdict; True when the chain does not match them."""
    for problem in report.problems:
        print(f"audit chain does not match its checkpoints: {problem}", file=sys.stderr)
    last = report.last_good
    if report.ok:
        if last is None:
            print("checkpoints: none yet (the chain is empty)")
        else:
            print(
                f"checkpoints: {report.checkpoints} verified; the last covers event {last.seq} "
                f"({last.at.isoformat(timespec='seconds')}); {report.unanchored} events after "
                "it are not anchored yet"
            )
        return False
    shown = f"event {last.seq} of {last.at.isoformat(timespec='seconds')}" if last else "none"
    print(
        f"first event after the last good checkpoint: event {report.first_suspect} "
        f"(last good checkpoint: {shown}; read from {', '.join(map(str, sources))})",
        file=sys.stderr,
    )
    return True


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """Sign the chain's head now (what a running gateway does every checkpoint_interval)."""
    import asyncio  # noqa: PLC0415  (each command imports what it uses)

    from gateway.anchoring import checkpointer  # noqa: PLC0415
    from gateway.config import load_settings  # noqa: PLC0415
    from gateway.errors import ConfigError  # noqa: PLC0415
    from gateway.store_schema import existing_store  # noqa: PLC0415
    from store import CheckpointError, Database  # noqa: PLC0415

    settings = load_settings(args.config)

    async def run() -> int:
        await existing_store(settings.store.url)
        async with Database(settings.store.url) as database:
            signer = checkpointer(settings, database)
            if signer is None:
                raise ConfigError("[audit] checkpoint_file is not set: nothing to checkpoint to")
            try:
                made = await signer.checkpoint()
            except CheckpointError as exc:
                print(f"audit checkpoint refused: {exc.message}", file=sys.stderr)
                return 1
        if made is None:
            print("audit checkpoint: the head is already checkpointed")
        else:
            print(f"audit checkpoint: event {made.seq} signed (key {made.key}) into {signer.path}")
        return 0

    return asyncio.run(run())


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a new Ed25519 checkpoint key (mode 0600) and its public key beside it (.pub)."""
    from store import CheckpointKey, generate_key_pem  # noqa: PLC0415

    private = Path(args.out)
    public = private.with_name(private.name + ".pub")
    pem = generate_key_pem()
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{private} exists; a checkpoint key is never overwritten") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(pem)
    key = CheckpointKey.load(pem).public
    public.write_text(key.pem(), encoding="utf-8")
    print(f"checkpoint key {key.key_id}: private {private} (keep it off the store's host), "
          f"public {public}")  # fmt: skip
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415  (each command imports what it uses)

    from gateway.config import load_settings  # noqa: PLC0415
    from gateway.store_schema import existing_store  # noqa: PLC0415
    from store import AuditFilter, Database, export_audit  # noqa: PLC0415

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
    check = audit.add_parser(
        "verify",
        help="check the hash chain against its signed checkpoints and the reviews and "
        "decisions against their audit events; names the first bad event",
    )
    check.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    check.add_argument(
        "--checkpoints",
        action="append",
        metavar="FILE",
        help="more checkpoints (e.g. cut out of the log); repeatable",
    )
    check.set_defaults(func=cmd_verify)
    point = audit.add_parser(
        "checkpoint", help="sign the chain's head into [audit] checkpoint_file"
    )
    point.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    point.set_defaults(func=cmd_checkpoint)
    keygen = audit.add_parser("keygen", help="make an Ed25519 checkpoint key (and KEY.pub)")
    keygen.add_argument("--out", required=True, help="where to write the private key (PEM)")
    keygen.set_defaults(func=cmd_keygen)
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
