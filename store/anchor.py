"""Anchoring the audit chain to signed checkpoints (:mod:`store.checkpoints`): making them, and
checking the chain against them.

Making one (:class:`Checkpointer`): the chain's part after the last checkpoint is verified
first (its first event must follow the checkpointed head, every hash must hold, and the event
at the checkpoint's seq must still have the checkpoint's hash); only then is the new head
signed, appended to the checkpoint file and written to the log. A chain that does not extend
the last checkpoint is never signed: the checkpointer says so (``CheckpointError``) and keeps
refusing until someone looks.

Checking (:func:`verify_anchored`): the whole chain is walked (:func:`store.audit.verify`), and
every checkpoint whose signature verifies must name an event that exists, is inside the intact
part of the chain and has the checkpoint's hash. An attacker who edits an event and recomputes
every hash after it keeps the chain intact but cannot re-sign the checkpoints after the edit:
the first of them no longer matches. The report names the last good checkpoint and the first
event after it, where the rewrite may begin (a rechained store cannot say more precisely which
of the events up to the failing checkpoint was edited).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.audit import GENESIS, VerifyResult, hashes_at, verify
from store.checkpoints import (
    Checkpoint,
    CheckpointKey,
    CheckpointLine,
    append_checkpoint,
    read_checkpoints,
)
from store.engine import Database
from store.errors import CheckpointError, StoreError

__all__ = ["AnchorReport", "Checkpointer", "verify_anchored"]

log = logging.getLogger("airlock.audit.checkpoint")


@dataclass(frozen=True, slots=True)
class AnchorReport:
    """The chain against its checkpoints. ``ok`` when the chain is intact, every checkpoint
    line is a checkpoint signed by the key, and every one of them matches the store.
    ``first_suspect`` is the first event after the last good checkpoint (set when not ok)."""

    chain: VerifyResult
    checkpoints: int
    last_good: Checkpoint | None
    problems: tuple[str, ...]
    first_suspect: int | None
    unanchored: int

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems


async def verify_anchored(database: Database, lines: Sequence[CheckpointLine]) -> AnchorReport:
    """Walk the chain and check it against ``lines`` (read with the public key)."""
    chain = await verify(database)
    valid = sorted(
        (line for line in lines if line.checkpoint is not None),
        key=lambda line: line.checkpoint.seq if line.checkpoint else 0,
    )
    problems = [f"{line.where}: {line.problem}" for line in lines if line.problem is not None]
    stored = await hashes_at(database, [line.checkpoint.seq for line in valid if line.checkpoint])
    # Events up to `intact` are internally consistent (the walk reached them unbroken).
    intact = chain.head_seq
    last_good: Checkpoint | None = None
    failed_at: int | None = None if chain.ok else chain.first_bad_seq
    for line in valid:
        checkpoint = line.checkpoint
        assert checkpoint is not None
        problem = _mismatch(checkpoint, stored.get(checkpoint.seq))
        if problem is None:
            # In ascending order: the last match before any failure is the last good one. A
            # match past the chain's break is no evidence (the break is already reported).
            if checkpoint.seq <= intact and (failed_at is None or checkpoint.seq < failed_at):
                last_good = checkpoint
            continue
        problems.append(f"{line.where}: {problem}")
        failed_at = checkpoint.seq if failed_at is None else min(failed_at, checkpoint.seq)
    if not valid and intact > 0:
        problems.append("no signed checkpoint covers the chain: nothing anchors it")
    ok = chain.ok and not problems
    first_suspect = None if ok else (last_good.seq if last_good else 0) + 1
    anchored = last_good.seq if last_good else 0
    return AnchorReport(
        chain=chain,
        checkpoints=len(valid),
        last_good=last_good,
        problems=tuple(problems),
        first_suspect=first_suspect,
        unanchored=max(chain.head_seq - anchored, 0) if chain.ok else 0,
    )


def _mismatch(checkpoint: Checkpoint, stored: str | None) -> str | None:
    seq, when = checkpoint.seq, checkpoint.at.isoformat(timespec="seconds")
    if stored is None:
        return (
            f"the checkpoint of {when} says the chain reached event {seq}; the store has no "
            f"event {seq} (events were cut off the end or deleted)"
        )
    if stored != checkpoint.hash:
        return (
            f"the checkpoint of {when} signed event {seq} with hash {checkpoint.hash[:16]}..., "
            f"the store's event {seq} has {stored[:16]}... (events up to it were rewritten)"
        )
    return None


class Checkpointer:
    """Signs the chain's head into ``path`` (and the log) whenever it moved on."""

    def __init__(
        self,
        database: Database,
        key: CheckpointKey,
        path: Path,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database, self.key, self.path, self.clock = database, key, path, clock
        self._last: Checkpoint | None = None
        self._lock = asyncio.Lock()

    async def checkpoint(self) -> Checkpoint | None:
        """Sign the head when it moved past the last checkpoint (None when it did not).

        Raises CheckpointError when the chain does not extend the last checkpoint.
        """
        async with self._lock:
            last = self._last or await asyncio.to_thread(self._last_in_file)
            after_seq, after_hash = (last.seq, last.hash) if last else (0, GENESIS)
            if after_seq:
                stored = (await hashes_at(self.database, [after_seq])).get(after_seq)
                if stored != after_hash:
                    raise CheckpointError(
                        f"the store's event {after_seq} no longer has the hash the last "
                        "checkpoint signed: the chain was rewritten; no checkpoint signed "
                        "(run `airlock audit verify`)"
                    )
            tail = await verify(self.database, after_seq=after_seq, after_hash=after_hash)
            if not tail.ok:
                raise CheckpointError(
                    f"the chain after the last checkpoint (event {after_seq}) is broken at "
                    f"event {tail.first_bad_seq}: {tail.problem}; no checkpoint signed"
                )
            if last is not None and tail.head_seq == last.seq:
                self._last = last
                return None
            made = self.key.sign(tail.head_seq, tail.head_hash, self.clock())
            await asyncio.to_thread(append_checkpoint, self.path, made)
            log.info("audit checkpoint %s", made.line())
            self._last = made
            return made

    def _last_in_file(self) -> Checkpoint | None:
        """The checkpoint with the highest seq in the file, by this key."""
        if not self.path.exists():
            return None
        lines = read_checkpoints(self.path, self.key.public)
        mine = [line.checkpoint for line in lines if line.checkpoint is not None]
        return max(mine, key=lambda c: c.seq, default=None)

    async def run(self, stop: asyncio.Event, every: timedelta) -> None:
        """Checkpoint now, then every ``every`` until ``stop`` is set; failures are logged
        (at ERROR: a chain that does not extend its checkpoint is an incident) and retried."""
        while True:
            await self._attempt()
            try:
                await asyncio.wait_for(stop.wait(), every.total_seconds())
            except TimeoutError:
                continue
            return

    async def _attempt(self) -> None:
        try:
            await self.checkpoint()
        except CheckpointError as exc:
            log.error("audit checkpoint refused: %s", exc.message)
        except (StoreError, OSError) as exc:
            log.warning("audit checkpoint failed, will retry: %s", exc)
