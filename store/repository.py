"""``SqlRepository``: the approvals ``Repository`` port on SQLite or PostgreSQL, plus the queries
the HTTP API, the CLI and the bot need (audit search, sessions, chat message references).

Events reach the bus once their transaction has committed: on PostgreSQL through ``pg_notify``
inside the transaction (delivered by PostgreSQL at commit, to every replica's PostgresBus); with
any other bus (the InProcessBus of a SQLite deployment) the repository publishes them itself right
after the commit. A transaction that rolls back publishes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from approvals.model import Delegation, Identity, Review
from approvals.ports import EventBus
from approvals.states import ReviewState
from store.audit import AuditFilter, select_audit
from store.bus import PostgresBus
from store.engine import Database
from store.mapping import (
    audit_from_row,
    chat_message_from_row,
    delegation_from_row,
    identity_from_row,
    review_from_row,
)
from store.outbox import CHANNEL
from store.records import AuditRecord, ChatMessage
from store.replicas import ReplicaQueries
from store.sessions import SessionQueries
from store.tables import ChatMessageRow, DecisionRow, DelegationRow, IdentityRow, ReviewRow
from store.transaction import SqlTransaction

__all__ = ["SqlRepository"]


class SqlRepository(SessionQueries, ReplicaQueries):
    """Reviews, decisions, delegations, audit, sessions, gateway replicas and chat references in
    one database."""

    def __init__(self, database: Database, bus: EventBus) -> None:
        self.database = database
        self.bus = bus
        self._channel = bus.channel if isinstance(bus, PostgresBus) else CHANNEL
        # A PostgresBus hears the transaction's own NOTIFY; any other bus is published to here.
        self._publish_after_commit = not (isinstance(bus, PostgresBus) and database.is_postgres)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        """One write transaction; its outbox events are published after it commits."""
        channel = self._channel if self.database.is_postgres else None
        async with self.database.write() as session:
            tx = SqlTransaction(session, self.database, notify_channel=channel)
            yield tx
            await tx.finish()
        if self._publish_after_commit:
            for event in tx.events:
                await self.bus.publish(event)

    # -- reviews --------------------------------------------------------------------------

    async def get_review(self, review_id: str) -> Review | None:
        async with self.database.read() as session:
            return await _review(session, review_id)

    async def list_reviews(
        self,
        *,
        state: ReviewState | None = None,
        connection: str | None = None,
        requester: str | None = None,
        limit: int = 100,
    ) -> list[Review]:
        """Newest first."""
        query = select(ReviewRow)
        if state is not None:
            query = query.where(col(ReviewRow.state) == state.value)
        if connection is not None:
            query = query.where(col(ReviewRow.connection) == connection)
        if requester is not None:
            query = query.where(col(ReviewRow.requester_subject) == requester)
        query = query.order_by(col(ReviewRow.created_at).desc(), col(ReviewRow.id)).limit(limit)
        async with self.database.read() as session:
            rows = list(await session.scalars(query))
            ids = [row.id for row in rows]
            decisions = await session.scalars(
                select(DecisionRow).where(col(DecisionRow.review_id).in_(ids))
            )
        by_review: dict[str, list[DecisionRow]] = {}
        for decision in decisions:
            by_review.setdefault(decision.review_id, []).append(decision)
        return [review_from_row(row, by_review.get(row.id, ())) for row in rows]

    # -- delegations ----------------------------------------------------------------------

    async def get_delegation(self, delegation_id: str) -> Delegation | None:
        async with self.database.read() as session:
            row = await session.get(DelegationRow, delegation_id)
        return delegation_from_row(row) if row is not None else None

    async def list_delegations(
        self,
        *,
        subject: str | None = None,
        connection: str | None = None,
        active_at: datetime | None = None,
    ) -> list[Delegation]:
        """Longest-lasting first; ``active_at``: only those not revoked and not expired then."""
        query = select(DelegationRow)
        if subject is not None:
            query = query.where(col(DelegationRow.subject) == subject)
        if connection is not None:
            query = query.where(col(DelegationRow.connection) == connection)
        if active_at is not None:
            query = query.where(
                col(DelegationRow.revoked_at).is_(None),
                col(DelegationRow.expires_at) > active_at,
            )
        query = query.order_by(col(DelegationRow.expires_at).desc(), col(DelegationRow.id))
        async with self.database.read() as session:
            return [delegation_from_row(row) for row in await session.scalars(query)]

    async def record_delegation_use(self, delegation_id: str, at: datetime) -> None:
        """Note that a session used the delegation (for idle revocation and access reviews)."""
        async with self.database.write() as session:
            await session.execute(
                update(DelegationRow)
                .where(col(DelegationRow.id) == delegation_id)
                .values(last_used_at=at, use_count=col(DelegationRow.use_count) + 1)
                .execution_options(synchronize_session=False)
            )

    # -- audit ----------------------------------------------------------------------------

    async def list_audit(
        self,
        *,
        identity: str | None = None,
        actor_in_chain: str | None = None,
        connection: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after_seq: int = 0,
        target: str | None = None,
    ) -> list[AuditRecord]:
        """Audit events in chain order after ``after_seq`` (pass the last seq to page on).

        ``identity`` matches the chain's original subject; ``actor_in_chain`` matches anyone
        anywhere in the chain (the subject or any agent acting for it).
        """
        where = AuditFilter(identity, actor_in_chain, connection, since, until, target)
        query = select_audit(
            where, postgres=self.database.is_postgres, after_seq=after_seq, limit=limit
        )
        async with self.database.read() as session:
            return [audit_from_row(row) for row in await session.scalars(query)]

    # -- chat message references and identities -------------------------------------------

    async def add_chat_message(
        self, review_id: str, provider: str, channel: str, ts: str, at: datetime | None = None
    ) -> ChatMessage:
        row = ChatMessageRow(
            review_id=review_id,
            provider=provider,
            channel=channel,
            ts=ts,
            created_at=at or datetime.now(UTC),
        )
        async with self.database.write() as session:  # Core: cheaper than the ORM's flush
            await session.execute(insert(ChatMessageRow).values(**row.model_dump(exclude={"id"})))
        return chat_message_from_row(row)

    async def list_chat_messages(self, review_id: str) -> list[ChatMessage]:
        async with self.database.read() as session:
            return await _chat_messages(session, review_id)

    async def review_and_messages(self, review_id: str) -> tuple[Review | None, list[ChatMessage]]:
        """The review and what the chat said about it, read together (one snapshot, one read
        transaction: the chat delivery asks both for every event it delivers)."""
        async with self.database.read() as session:
            review = await _review(session, review_id)
            if review is None:
                return None, []
            return review, await _chat_messages(session, review_id)

    async def upsert_identity(self, identity: Identity, seen_at: datetime) -> None:
        """Remember (or refresh) who this subject is: kind, e-mail, groups, when last seen."""
        values = {
            "subject": identity.subject,
            "kind": identity.kind.value,
            "email": identity.email,
            "groups": sorted(identity.groups),
            "created_at": seen_at,
            "last_seen_at": seen_at,
        }
        dialect_insert = postgresql.insert if self.database.is_postgres else sqlite.insert
        statement = dialect_insert(IdentityRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["subject"],
            set_={k: statement.excluded[k] for k in ("kind", "email", "groups", "last_seen_at")},
        )
        async with self.database.write() as session:
            await session.execute(statement)

    async def list_identities(self, subjects: Sequence[str] | None = None) -> list[Identity]:
        query = select(IdentityRow).order_by(col(IdentityRow.subject))
        if subjects is not None:
            query = query.where(col(IdentityRow.subject).in_(list(subjects)))
        async with self.database.read() as session:
            rows = list(await session.scalars(query))
        return [identity_from_row(row) for row in rows]


async def _review(session: AsyncSession, review_id: str) -> Review | None:
    row = await session.get(ReviewRow, review_id)
    if row is None:
        return None
    decisions = await session.scalars(
        select(DecisionRow).where(col(DecisionRow.review_id) == review_id)
    )
    return review_from_row(row, decisions)


async def _chat_messages(session: AsyncSession, review_id: str) -> list[ChatMessage]:
    query = (
        select(ChatMessageRow)
        .where(col(ChatMessageRow.review_id) == review_id)
        .order_by(col(ChatMessageRow.id))
    )
    return [chat_message_from_row(row) for row in await session.scalars(query)]
