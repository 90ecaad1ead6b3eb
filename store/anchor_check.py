"""The audit chain against its signed checkpoints, with no database in it: given the chain's
walk (:class:`store.chain.VerifyResult`), the checkpoint lines and the stored hash at each
checkpoint's seq, the verdict (:func:`anchor_report`). :func:`store.anchor.verify_anchored`
reads those through the store; ``airlock audit verify`` on a SQLite file reads them with the
standard library (:mod:`store.sqlite_audit`). Imports no SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from store.chain import VerifyResult

if TYPE_CHECKING:  # read with the key by the caller; no cryptography needed here
    from store.checkpoints import Checkpoint, CheckpointLine

__all__ = ["AnchorReport", "anchor_report", "checkpointed_seqs"]


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


def checkpointed_seqs(lines: Sequence[CheckpointLine]) -> list[int]:
    """The seqs whose stored hash :func:`anchor_report` needs."""
    return [line.checkpoint.seq for line in lines if line.checkpoint is not None]


def anchor_report(
    chain: VerifyResult, lines: Sequence[CheckpointLine], stored: Mapping[int, str]
) -> AnchorReport:
    """The verdict on ``chain`` (the whole chain walked) against ``lines`` (read with the public
    key), ``stored`` holding the store's hash of each event in :func:`checkpointed_seqs`."""
    valid = sorted(
        (line for line in lines if line.checkpoint is not None),
        key=lambda line: line.checkpoint.seq if line.checkpoint else 0,
    )
    problems = [f"{line.where}: {line.problem}" for line in lines if line.problem is not None]
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
