"""Access-review reads: every live grant and standing group of the given connections, with the
usage the recorded sessions show, and the recertification history the audit log holds.

Usage comes from two places, whichever says more: the delegation's own ``last_used_at`` /
``use_count`` (when the gateway records uses) and the sessions that rested on it (every session
records the delegation it rests on in ``stats.delegation``; its ``chain`` is the actor chain).
A session without a delegation on a standing connection counts for each of the connection's
``allow_groups`` the caller was in. Sessions are read back ``lookback`` (90 days by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from approvals.access_review import AccessEntry, EntryKind, ReviewEvent, group_key
from approvals.model import AccessMode, Connection
from store.engine import Database
from store.tables import AuditEventRow, DelegationRow, SessionRow

__all__ = [
    "HISTORY_ACTIONS",
    "LOOKBACK",
    "AccessReviews",
    "entry_from_json",
    "entry_to_json",
]

LOOKBACK = timedelta(days=90)
RECERTIFIED = ("delegation.recertified", "group.recertified")
HISTORY_ACTIONS = (
    "delegation.granted",
    *RECERTIFIED,
    "delegation.revoked",
    "delegation.expired",
)


@dataclass
class _Usage:
    last: datetime | None = None
    count: int = 0
    chains: set[str] = field(default_factory=set)

    def add(self, chain: str, at: datetime) -> None:
        self.count += 1
        self.chains.add(chain)
        if self.last is None or at > self.last:
            self.last = at


class AccessReviews:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def entries(
        self,
        connections: Mapping[str, Connection],
        now: datetime,
        *,
        lookback: timedelta = LOOKBACK,
    ) -> list[AccessEntry]:
        """The live grants and standing groups of ``connections`` as review lines."""
        grants, sessions, kept = await self._read(now, now - lookback)
        by_grant: dict[str, _Usage] = {}
        by_group: dict[tuple[str, str], _Usage] = {}
        for conn, chain, identity, stats, started in sessions:
            policy = connections.get(conn)
            if policy is None:
                continue
            grant = (stats or {}).get("delegation")
            if grant:
                by_grant.setdefault(str(grant), _Usage()).add(chain, started)
            elif policy.access is AccessMode.STANDING:
                for group in policy.allow_groups & set((identity or {}).get("groups", ())):
                    by_group.setdefault((conn, group), _Usage()).add(chain, started)
        entries = [
            _grant_entry(row, by_grant.get(row.id))
            for row in grants
            if row.connection in connections
        ]
        for policy in connections.values():
            if policy.access is AccessMode.STANDING:
                for group in sorted(policy.allow_groups):
                    usage = by_group.get((policy.name, group))
                    key = group_key(policy.name, group)
                    entries.append(_group_entry(policy.name, group, key, usage, kept.get(key)))
        return entries

    async def _read(
        self, now: datetime, since: datetime
    ) -> tuple[list[DelegationRow], list[Any], dict[str, datetime]]:
        grants_q = select(DelegationRow).where(
            col(DelegationRow.revoked_at).is_(None), col(DelegationRow.expires_at) > now
        )
        sessions_q = select(
            col(SessionRow.connection),
            col(SessionRow.chain),
            col(SessionRow.identity),
            col(SessionRow.stats),
            col(SessionRow.started_at),
        ).where(col(SessionRow.started_at) >= since)
        kept_q = select(col(AuditEventRow.target), col(AuditEventRow.at)).where(
            col(AuditEventRow.action) == "group.recertified"
        )
        async with self.database.read() as session:
            grants = list(await session.scalars(grants_q))
            sessions = list((await session.execute(sessions_q)).all())
            kept: dict[str, datetime] = {}
            for target, at in (await session.execute(kept_q)).all():
                kept[target] = max(at, kept.get(target, at))
        return grants, sessions, kept

    async def history(
        self, connections: Iterable[str] | None = None, keys: Sequence[str] | None = None
    ) -> list[ReviewEvent]:
        """Grants, recertifications, revocations and expiries, oldest first (of these
        connections, or of these lines)."""
        query = select(AuditEventRow).where(col(AuditEventRow.action).in_(HISTORY_ACTIONS))
        if keys is not None:
            query = query.where(col(AuditEventRow.target).in_(list(keys)))
        wanted = set(connections) if connections is not None else None
        async with self.database.read() as session:
            rows = await session.scalars(query.order_by(col(AuditEventRow.seq)))
            return [_history(row) for row in rows if wanted is None or row.connection in wanted]


def _grant_entry(row: DelegationRow, usage: _Usage | None) -> AccessEntry:
    usage = usage or _Usage()
    last = max((t for t in (row.last_used_at, usage.last) if t is not None), default=None)
    return AccessEntry(
        kind=EntryKind.GRANT,
        key=row.id,
        connection=row.connection,
        holder=row.subject,
        role=row.role,
        granted_by=row.granted_by,
        reason=row.reason,
        since=row.created_at,
        expires_at=row.expires_at,
        last_used_at=last,
        uses=max(row.use_count, usage.count),
        chains=tuple(sorted(usage.chains)),
        recertified_at=row.recertified_at,
    )


def _group_entry(
    connection: str, group: str, key: str, usage: _Usage | None, kept: datetime | None
) -> AccessEntry:
    usage = usage or _Usage()
    return AccessEntry(
        kind=EntryKind.GROUP,
        key=key,
        connection=connection,
        holder=group,
        granted_by="configuration",
        last_used_at=usage.last,
        uses=usage.count,
        chains=tuple(sorted(usage.chains)),
        recertified_at=kept,
    )


def _history(row: AuditEventRow) -> ReviewEvent:
    details = row.details or {}
    reason = details.get("reason")
    digest = details.get("digest")
    return ReviewEvent(
        key=row.target,
        connection=row.connection,
        action=row.action,
        by=row.actor_subject,
        at=row.at,
        reason=str(reason) if reason is not None else None,
        digest=str(digest) if digest is not None else None,
    )


# -- JSON form of an entry (the digest's snapshot) ------------------------------------------

_TIMES = ("since", "expires_at", "last_used_at", "recertified_at")


def entry_to_json(entry: AccessEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": entry.kind.value,
        "key": entry.key,
        "connection": entry.connection,
        "holder": entry.holder,
        "role": entry.role,
        "granted_by": entry.granted_by,
        "reason": entry.reason,
        "uses": entry.uses,
        "chains": list(entry.chains),
    }
    for name in _TIMES:
        value = getattr(entry, name)
        data[name] = value.isoformat() if value is not None else None
    return data


def entry_from_json(data: Mapping[str, Any]) -> AccessEntry:
    times = {
        name: datetime.fromisoformat(data[name]) if data.get(name) else None for name in _TIMES
    }
    return AccessEntry(
        kind=EntryKind(data["kind"]),
        key=str(data["key"]),
        connection=str(data["connection"]),
        holder=str(data["holder"]),
        role=data.get("role"),
        granted_by=data.get("granted_by"),
        reason=data.get("reason"),
        uses=int(data.get("uses", 0)),
        chains=tuple(data.get("chains", ())),
        **times,
    )
