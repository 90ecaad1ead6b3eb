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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store.anchor_check import AnchorReport, anchor_report, checkpointed_seqs
from store.audit import GENESIS, hashes_at, verify
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


async def verify_anchored(database: Database, lines: Sequence[CheckpointLine]) -> AnchorReport:
    """Walk the chain and check it against ``lines`` (read with the public key)."""
    chain = await verify(database)
    return anchor_report(chain, lines, await hashes_at(database, checkpointed_seqs(lines)))


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
