"""Stored digests (the ``digest`` table), what became of their lines, and chat notices.

A digest's id is ``<ISO week>/<recipient>`` (``2026-W47/channel:#db-owners``): building the week's
digests again inserts nothing new, so each recipient gets one digest per week whichever replica
or how many runs built it. The row and its ``digest.ready`` event commit together.

A line's status is read from the store, never from the chat message: the delegation's own
revocation (or expiry), else a recertification audited after the digest was built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from approvals.access_review import Digest, EntryKind, LineState, LineStatus, Recipient
from approvals.lifecycle import DIGEST_READY, EXPIRED
from approvals.model import DomainEvent
from store.access_review import RECERTIFIED, entry_from_json, entry_to_json
from store.repository import SqlRepository
from store.scheduler_tables import ChatNoticeRow
from store.tables import AuditEventRow, DelegationRow, DigestRow

__all__ = ["ChatNotice", "DigestStore", "digest_from_row", "digest_payload"]

_BATCH = 200  # digests per transaction when a week's digests are stored


@dataclass(frozen=True, slots=True)
class ChatNotice:
    key: str
    kind: str
    provider: str
    channel: str
    ts: str


def digest_payload(digest: Digest) -> dict[str, Any]:
    return {
        "recipient": digest.recipient.key,
        "period": digest.period,
        "created_at": digest.created_at.isoformat(),
        "unused_after_s": int(digest.unused_after.total_seconds()),
        "entries": [entry_to_json(e) for e in digest.entries],
    }


def digest_from_row(row: DigestRow) -> Digest:
    data = row.payload
    return Digest(
        id=row.id,
        recipient=Recipient.parse(str(data["recipient"])),
        period=str(data["period"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        entries=tuple(entry_from_json(e) for e in data["entries"]),
        unused_after=timedelta(seconds=int(data["unused_after_s"])),
    )


class DigestStore:
    def __init__(self, repository: SqlRepository) -> None:
        self.repository = repository
        self.database = repository.database

    async def save(self, digests: Sequence[Digest]) -> list[str]:
        """Store the digests not stored yet, each with its ``digest.ready`` event; returns the
        ids stored now."""
        stored: list[str] = []
        dialect_insert = postgresql.insert if self.database.is_postgres else sqlite.insert
        for start in range(0, len(digests), _BATCH):
            batch = {d.id: d for d in digests[start : start + _BATCH]}
            rows = [
                {"id": d.id, "owner": d.recipient.key, "sent_at": d.created_at,
                 "payload": digest_payload(d)}
                for d in batch.values()
            ]  # fmt: skip
            async with self.repository.transaction() as tx:
                result = await tx.session.execute(
                    dialect_insert(DigestRow)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["id"])
                    .returning(col(DigestRow.id))
                )
                new = set(result.scalars())
                for digest_id in (i for i in batch if i in new):  # in the order given
                    stored.append(digest_id)
                    lines = len(batch[digest_id].entries)
                    await tx.emit(DomainEvent(DIGEST_READY, digest_id, {"lines": lines}))
        return stored

    async def get(self, digest_id: str) -> Digest | None:
        async with self.database.read() as session:
            row = await session.get(DigestRow, digest_id)
        return digest_from_row(row) if row is not None else None

    async def recent(self, recipient: str | None = None, limit: int = 100) -> list[Digest]:
        """Newest first."""
        query = select(DigestRow).order_by(col(DigestRow.sent_at).desc()).limit(limit)
        if recipient is not None:
            query = query.where(col(DigestRow.owner) == recipient)
        async with self.database.read() as session:
            return [digest_from_row(row) for row in await session.scalars(query)]

    async def statuses(self, digest: Digest, now: datetime) -> dict[str, LineStatus]:
        """What became of each line since the digest was built (lines absent here are open)."""
        grants = [e.key for e in digest.entries if e.kind is EntryKind.GRANT]
        keys = [e.key for e in digest.entries]
        found: dict[str, LineStatus] = {}
        async with self.database.read() as session:
            kept = await session.scalars(
                select(AuditEventRow)
                .where(col(AuditEventRow.action).in_(RECERTIFIED))
                .where(col(AuditEventRow.target).in_(keys))
                .where(col(AuditEventRow.at) >= digest.created_at)
                .order_by(col(AuditEventRow.seq))
            )
            for row in kept:
                found[row.target] = LineStatus(LineState.KEPT, row.actor_subject, row.at)
            rows = await session.scalars(
                select(DelegationRow).where(col(DelegationRow.id).in_(grants))
            )
            for grant in rows:
                ended = _ended(grant, now)
                if ended is not None:
                    found[grant.id] = ended
        return found

    # -- chat notices ---------------------------------------------------------------------

    async def add_notice(
        self, key: str, kind: str, provider: str, channel: str, ts: str
    ) -> ChatNotice:
        row = ChatNoticeRow(
            key=key,
            kind=kind,
            provider=provider,
            channel=channel,
            ts=ts,
            created_at=datetime.now(UTC),
        )
        async with self.database.write() as session:
            session.add(row)
        return ChatNotice(key, kind, provider, channel, ts)

    async def notices(self, key: str, provider: str | None = None) -> list[ChatNotice]:
        query = (
            select(ChatNoticeRow)
            .where(col(ChatNoticeRow.key) == key)
            .order_by(col(ChatNoticeRow.id))
        )
        if provider is not None:
            query = query.where(col(ChatNoticeRow.provider) == provider)
        async with self.database.read() as session:
            return [
                ChatNotice(r.key, r.kind, r.provider, r.channel, r.ts)
                for r in await session.scalars(query)
            ]


def _ended(grant: DelegationRow, now: datetime) -> LineStatus | None:
    if grant.revoked_at is not None:
        if grant.revoke_reason == EXPIRED:
            return LineStatus(LineState.ENDED, None, grant.revoked_at, EXPIRED)
        return LineStatus(
            LineState.REVOKED, grant.revoked_by, grant.revoked_at, grant.revoke_reason
        )
    if grant.expires_at <= now:
        return LineStatus(LineState.ENDED, None, grant.expires_at, EXPIRED)
    return None
