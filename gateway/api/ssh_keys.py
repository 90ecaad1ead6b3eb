"""``/v1/ssh-keys``: public keys registered to an identity, for the SSH listener (docs/ssh.md).

A person registers their own key with their token (the key stands for them and the groups
their token carries); an admin registers one for anyone (``subject`` and ``groups`` named).
Listing shows one's own keys (admins and auditors: all); removing is for the key's owner or an
admin. Tokens with an agent chain cannot register keys: a key stands for one identity, never a
chain. Every change is audited (``ssh_key.added`` / ``ssh_key.removed``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel

from approvals import AuditEntry, Identity
from gateway.api.auth import Caller, Context
from gateway.api.context import ApiContext
from gateway.api.errors import ApiError
from gateway.api.schemas import ErrorOut
from store import IntegrityError, SshKey, SshKeyStore

__all__ = ["fingerprint", "router"]

router = APIRouter(prefix="/v1", tags=["ssh"])
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
    409: {"model": ErrorOut}, 422: {"model": ErrorOut},
}  # fmt: skip
KEY_TYPES = frozenset(
    ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
     "ssh-rsa", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
)  # fmt: skip


class SshKeyIn(BaseModel):
    public_key: str  # one line of an OpenSSH .pub file
    subject: str | None = None  # admins only: whose key it is
    groups: list[str] | None = None  # admins only, with subject


def fingerprint(public_key: str) -> tuple[str, str, str | None]:
    """(OpenSSH SHA256 fingerprint, the key's line without its comment, comment); ValueError
    when it is not one OpenSSH public key line (RFC 4253 §6.6: the blob starts with its type)."""
    parts = public_key.strip().split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError("not an OpenSSH public key line (type base64 [comment])")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (size,) = struct.unpack(">I", blob[:4])
        kind = blob[4 : 4 + size].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as exc:
        raise ValueError("the key's base64 cannot be read") from exc
    if kind != parts[0]:
        raise ValueError("the key's type does not match its data")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}", f"{parts[0]} {parts[1]}", parts[2] if len(parts) > 2 else None


def _store(ctx: ApiContext) -> SshKeyStore:
    return SshKeyStore(ctx.database)


async def _audit(ctx: ApiContext, who: Identity, action: str, key: SshKey) -> None:
    entry = AuditEntry(
        action=action, actor=who, target=key.fingerprint, outcome="ok", at=datetime.now(UTC),
        details={"subject": key.subject, "groups": list(key.groups), "comment": key.comment},
    )  # fmt: skip
    async with ctx.repository.transaction() as tx:
        await tx.append_audit(entry)


@router.post("/ssh-keys", status_code=201, responses=_ERRORS)
async def add_key(ctx: Context, who: Caller, body: SshKeyIn) -> dict[str, object]:
    """Register a public key for oneself, or (admins) for ``subject`` with ``groups``."""
    if who.actors:
        raise ApiError(403, "forbidden", "an agent's token cannot register SSH keys")
    if body.subject is not None and not ctx.is_admin(who):
        raise ApiError(403, "forbidden", "only admins register keys for others")
    try:
        found, line, comment = fingerprint(body.public_key)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    subject = body.subject or who.subject
    groups = tuple(body.groups or ()) if body.subject is not None else tuple(sorted(who.groups))
    kind = who.kind.value if body.subject is None else "person"
    key = SshKey(found, subject, kind, groups, line, comment, who.subject,
                 datetime.now(UTC))  # fmt: skip
    try:
        await _store(ctx).add(key)
    except IntegrityError as exc:
        raise ApiError(409, "conflict", f"key {found} is registered already") from exc
    await _audit(ctx, who, "ssh_key.added", key)
    return key.as_dict()


@router.get("/ssh-keys", responses=_ERRORS)
async def list_keys(ctx: Context, who: Caller) -> list[dict[str, object]]:
    """One's own keys; admins and auditors see every key."""
    everyone = ctx.is_admin(who) or ctx.is_auditor(who)
    keys = await _store(ctx).list(None if everyone else who.subject)
    return [key.as_dict() for key in keys]


@router.delete("/ssh-keys/{fingerprint:path}", responses=_ERRORS)
async def remove_key(ctx: Context, who: Caller, fingerprint: str) -> dict[str, object]:
    """Remove a key: its owner or an admin."""
    store = _store(ctx)
    key = await store.find(fingerprint)
    if key is None or not (key.subject == who.subject or ctx.is_admin(who)):
        raise ApiError(404, "not_found", f"no key {fingerprint}")
    await store.remove(fingerprint)
    await _audit(ctx, who, "ssh_key.removed", key)
    return {"removed": key.as_dict()}
