"""Public keys registered to an identity for the SSH listener (migration ``ssh_keys``).

A key is stored by its SHA-256 fingerprint (OpenSSH's ``SHA256:...``) with the identity it
stands for: the subject (canonical), its kind and the groups it had when it was registered
(its owner registering their own key with their token, or an admin naming them). The SSH
listener looks a presented key up here (``SshKeyStore.find``); the session is then checked
for access and revocation exactly as a token's (docs/ssh.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, delete, select
from sqlmodel import Field, SQLModel, col

from approvals.subjects import canonical
from store.columns import JSON_DOC, UTCDateTime
from store.engine import Database
from store.errors import IntegrityError

__all__ = ["SshKey", "SshKeyRow", "SshKeyStore"]


class SshKeyRow(SQLModel, table=True):
    """One registered public key."""

    __tablename__ = "ssh_key"

    fingerprint: str = Field(primary_key=True)
    subject: str = Field(index=True)
    kind: str
    groups: list[str] = Field(default_factory=list, sa_type=JSON_DOC)
    public_key: str = Field(sa_type=Text)
    comment: str | None = None
    added_by: str
    added_at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True, slots=True)
class SshKey:
    fingerprint: str
    subject: str
    kind: str
    groups: tuple[str, ...]
    public_key: str
    comment: str | None
    added_by: str
    added_at: datetime

    @classmethod
    def of(cls, row: SshKeyRow) -> SshKey:
        return cls(
            row.fingerprint, row.subject, row.kind, tuple(row.groups), row.public_key,
            row.comment, row.added_by, row.added_at,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "subject": self.subject, "kind": self.kind,
            "groups": list(self.groups), "public_key": self.public_key, "comment": self.comment,
            "added_by": self.added_by, "added_at": self.added_at.isoformat(),
        }  # fmt: skip


class SshKeyStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def add(self, key: SshKey) -> SshKey:
        """Register ``key``; IntegrityError when its fingerprint is registered already."""
        row = SshKeyRow(
            fingerprint=key.fingerprint, subject=canonical(key.subject), kind=key.kind,
            groups=list(key.groups), public_key=key.public_key, comment=key.comment,
            added_by=key.added_by, added_at=key.added_at,
        )  # fmt: skip
        async with self.database.write() as session:
            if await session.get(SshKeyRow, key.fingerprint) is not None:
                raise IntegrityError(f"key {key.fingerprint} is registered already")
            session.add(row)
        return key

    async def find(self, fingerprint: str) -> SshKey | None:
        async with self.database.read() as session:
            row = await session.get(SshKeyRow, fingerprint)
            return None if row is None else SshKey.of(row)

    async def list(self, subject: str | None = None) -> list[SshKey]:
        query = select(SshKeyRow).order_by(col(SshKeyRow.added_at))
        if subject is not None:
            query = query.where(col(SshKeyRow.subject) == canonical(subject))
        async with self.database.read() as session:
            return [SshKey.of(row) for row in await session.scalars(query)]

    async def remove(self, fingerprint: str) -> bool:
        async with self.database.write() as session:
            done = await session.execute(
                delete(SshKeyRow).where(col(SshKeyRow.fingerprint) == fingerprint)
            )
        return bool(getattr(done, "rowcount", 0))
