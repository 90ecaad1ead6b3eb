"""The audit chain's rule, with no database in it: an event's hash (SHA-256 over the canonical
JSON of its fields, :func:`chain_hash`) and the walk that checks a chain event by event
(:class:`ChainWalk`). :func:`store.audit.verify` feeds it the rows it reads through the store;
``airlock audit verify`` on a SQLite file feeds it rows read with the standard library
(:mod:`store.sqlite_audit`): one verification, whatever read the rows. Imports no SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from store.errors import InvalidRecord

__all__ = ["EVENT_FIELDS", "GENESIS", "ChainWalk", "VerifyResult", "chain_hash"]

GENESIS = "0" * 64
# An event's stored fields, ``hash`` aside: what its hash covers.
EVENT_FIELDS = (
    "seq",
    "at",
    "action",
    "actor_subject",
    "actor_chain",
    "connection",
    "target",
    "outcome",
    "details",
    "prev_hash",
)


def _canonical_text(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _canonical(value: Any) -> bytes:
    try:
        return _canonical_text(value).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: not text any database keeps
        raise InvalidRecord(f"audit event is not UTF-8 text: {exc}") from exc


def _time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def chain_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of an event's fields (everything but ``hash``) in canonical JSON."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    body["at"] = _time(body["at"])
    return hashlib.sha256(_canonical(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` when every event checked out; else the first bad event's ``seq`` and why."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS


class ChainWalk:
    """Checks events fed in ``seq`` order (each a mapping of :data:`EVENT_FIELDS` and
    ``hash``): every link and every hash; the whole chain, or (``after_seq``, ``after_hash``: a
    checkpoint's head) the part after that head, whose first event must follow it."""

    def __init__(self, after_seq: int = 0, after_hash: str = GENESIS) -> None:
        self.expected_seq, self.prev_hash, self.checked = after_seq + 1, after_hash, 0

    def feed(self, row: Mapping[str, Any]) -> VerifyResult | None:
        """None while the chain holds; the failing result at the first bad event."""
        problem = _check(row, self.expected_seq, self.prev_hash)
        if problem is not None:
            bad_seq = min(row["seq"], self.expected_seq)
            head = self.expected_seq - 1
            return VerifyResult(False, self.checked, bad_seq, problem, head, self.prev_hash)
        self.checked += 1
        self.expected_seq, self.prev_hash = row["seq"] + 1, row["hash"]
        return None

    def unreadable(self, seq: int, why: str) -> VerifyResult:
        """The result when event ``seq``'s stored values cannot be read as an event's."""
        problem = f"event {seq} was altered: its stored values cannot be read ({why})"
        head = self.expected_seq - 1
        return VerifyResult(False, self.checked, min(seq, self.expected_seq), problem, head,
                            self.prev_hash)  # fmt: skip

    def result(self) -> VerifyResult:
        """The chain walked to its end, intact."""
        return VerifyResult(
            True, self.checked, head_seq=self.expected_seq - 1, head_hash=self.prev_hash
        )


def _check(row: Mapping[str, Any], expected_seq: int, prev_hash: str) -> str | None:
    seq = row["seq"]
    if seq != expected_seq:
        return f"event {expected_seq} is missing: the chain jumps from {expected_seq - 1} to {seq}"
    if row["prev_hash"] != prev_hash:
        return (
            f"event {seq} does not follow event {seq - 1}: its prev_hash does not "
            "match (an event was deleted, replaced or moved)"
        )
    if chain_hash({name: row[name] for name in EVENT_FIELDS}) != row["hash"]:
        return f"event {seq} was altered: its content does not match its hash"
    return None
