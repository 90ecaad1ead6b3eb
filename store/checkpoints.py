"""Signed checkpoints of the audit chain's head, kept outside the store.

The hash chain (:mod:`store.audit`) shows an edit only to someone who kept a hash from before it:
whoever can write the store can edit an event and recompute every hash after it, and the chain
verifies again. A checkpoint is that kept hash, signed: ``(seq, hash, count, at)`` of the head,
signed with an Ed25519 key (RFC 8032) that never lives in the store, and appended to a file
(and the log) that the store's writer cannot rewrite. :mod:`store.anchor` checks the chain
against them.

One checkpoint is one JSON line (sorted keys)::

    {"at":"2026-12-07T12:00:00.000000+00:00","count":42,"hash":"<64 hex>","key":"<key id>",
     "seq":42,"sig":"<base64url signature>","v":1}

``sig`` signs :data:`CONTEXT` followed by the canonical JSON (sorted keys, no whitespace, UTF-8)
of every other field, so the key signs nothing that could be read as anything else. ``key`` is
the first 16 hex digits of SHA-256 over the raw 32-byte public key. ``count`` is the number of
events in the chain at that head (the chain has no gaps, so it equals ``seq``; a checkpoint
where it does not is refused).

The file is opened ``O_APPEND`` for every line and each line is written with one ``write`` and
``fsync``ed: lines of concurrent writers (several processes on one file) never interleave.
A line read back may carry a prefix (a log line's time and logger name): everything before the
first ``{`` is skipped, so checkpoints cut out of a log verify like the file's own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from store.errors import CheckpointError

__all__ = [
    "CONTEXT",
    "Checkpoint",
    "CheckpointKey",
    "CheckpointLine",
    "PublicCheckpointKey",
    "append_checkpoint",
    "generate_key_pem",
    "read_checkpoints",
]

CONTEXT = b"airlock audit checkpoint v1\n"
VERSION = 1
_HEX = frozenset("0123456789abcdef")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain's head at ``at``: event ``seq`` has ``hash``; ``count`` events in all."""

    seq: int
    hash: str
    count: int
    at: datetime
    key: str
    sig: str = ""

    def signed_bytes(self) -> bytes:
        body = {
            "v": VERSION,
            "seq": self.seq,
            "hash": self.hash,
            "count": self.count,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "key": self.key,
        }
        return CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        """The checkpoint as one JSON line (no newline)."""
        body = json.loads(self.signed_bytes()[len(CONTEXT) :])
        body["sig"] = self.sig
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint from its line (a prefix before the first ``{`` is skipped)."""
        start = text.find("{")
        try:
            data = json.loads(text[start:]) if start >= 0 else None
        except ValueError as exc:
            raise CheckpointError(f"not a checkpoint (not JSON): {exc}") from exc
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise CheckpointError("not a checkpoint of this version")
        seq, count, digest = data.get("seq"), data.get("count"), data.get("hash")
        fields = (data.get("key"), data.get("sig"), data.get("at"))
        ints_ok = all(type(v) is int and v >= 0 for v in (seq, count))
        if not ints_ok or not all(isinstance(v, str) for v in (digest, *fields)):
            raise CheckpointError("a checkpoint field is missing or of the wrong type")
        assert isinstance(seq, int) and isinstance(count, int) and isinstance(digest, str)
        if len(digest) != 64 or not set(digest) <= _HEX:
            raise CheckpointError("the checkpoint's hash is not 64 hex digits")
        if seq != count:
            raise CheckpointError(f"the checkpoint counts {count} events up to event {seq}")
        try:
            at = datetime.fromisoformat(str(fields[2]))
        except ValueError as exc:
            raise CheckpointError("the checkpoint's time is not ISO 8601") from exc
        if at.tzinfo is None:
            raise CheckpointError("the checkpoint's time has no offset")
        return cls(seq, digest, count, at, str(fields[0]), str(fields[1]))


@dataclass(frozen=True, slots=True)
class PublicCheckpointKey:
    """What a checkpoint is verified with (an auditor needs nothing else)."""

    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def problem(self, checkpoint: Checkpoint) -> str | None:
        """None when this key signed ``checkpoint``; else why not."""
        if checkpoint.key != self.key_id:
            return f"signed by another key ({checkpoint.key!r}, not {self.key_id!r})"
        try:
            self.key.verify(_unb64(checkpoint.sig), checkpoint.signed_bytes())
        except (InvalidSignature, ValueError):
            return "its signature does not verify"
        return None

    @classmethod
    def load(cls, pem: str | bytes) -> PublicCheckpointKey:
        """An Ed25519 public key (PEM), or the public half of a private key (PEM)."""
        data = pem.encode() if isinstance(pem, str) else pem
        if b"PRIVATE KEY" in data:
            return CheckpointKey.load(data).public
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise CheckpointError("the checkpoint public key is not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointError("the checkpoint public key is not an Ed25519 key")
        return cls(key)


@dataclass(frozen=True, slots=True)
class CheckpointKey:
    """The private key checkpoints are signed with (never stored in the store)."""

    key: Ed25519PrivateKey

    @property
    def public(self) -> PublicCheckpointKey:
        return PublicCheckpointKey(self.key.public_key())

    def sign(self, seq: int, digest: str, at: datetime) -> Checkpoint:
        unsigned = Checkpoint(seq, digest, seq, at.astimezone(UTC), self.public.key_id)
        signature = self.key.sign(unsigned.signed_bytes())
        return Checkpoint(seq, digest, seq, unsigned.at, unsigned.key, _b64(signature))

    @classmethod
    def load(cls, pem: str | bytes) -> CheckpointKey:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            # The key's bytes are never part of the message.
            raise CheckpointError("the checkpoint key is not an unencrypted PEM key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError("the checkpoint key is not an Ed25519 key")
        return cls(key)


def generate_key_pem() -> str:
    """A new Ed25519 private key as PKCS#8 PEM."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@dataclass(frozen=True, slots=True)
class CheckpointLine:
    """One line read back: its place, and the checkpoint or why it is not one."""

    where: str
    checkpoint: Checkpoint | None
    problem: str | None = None


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append ``checkpoint`` to ``path`` (made if missing) in one write, then fsync."""
    data = (checkpoint.line() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoints(path: Path, key: PublicCheckpointKey) -> list[CheckpointLine]:
    """Every non-blank line of ``path``, parsed and checked against ``key``."""
    lines: list[CheckpointLine] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            where = f"{path}:{number}"
            try:
                checkpoint = Checkpoint.parse(text)
            except CheckpointError as exc:
                lines.append(CheckpointLine(where, None, exc.message))
                continue
            problem = key.problem(checkpoint)
            lines.append(CheckpointLine(where, None if problem else checkpoint, problem))
    return lines
