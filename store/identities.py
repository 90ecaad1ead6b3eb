"""Service accounts, revocations and delegation usage: the store side of identity.

:class:`IdentityStore` works beside :class:`~store.repository.SqlRepository` and writes through
its transactions, so every change is committed together with its audit entry and its outbox
event (``identity.revoked`` reaches every replica's listeners that way).

- Service accounts keep only a hash of their secret (made by the gateway; the store never sees
  a secret). Disabling one is a revocation: its tokens are refused and its sessions end.
- :meth:`IdentityStore.revoked` answers "does any of these subjects or token ids stand
  revoked?" in one read; the gateway asks it for every token it accepts.
- :meth:`IdentityStore.add_delegation_uses` applies a batch of usage counts in one transaction
  (the listeners flush per session every few seconds and at its end, not per statement).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from approvals.model import AuditEntry, DomainEvent, Identity
from approvals.revocation import IDENTITY_RESTORED, Revocation, RevokedWhat
from approvals.subjects import canonical
from store.errors import IntegrityError
from store.identity_tables import RevokedSubjectRow, RevokedTokenRow, revocation_reason
from store.repository import SqlRepository
from store.tables import DelegationRow, ServiceAccountRow

__all__ = ["IdentityStore", "ServiceAccount"]


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """An agent's or CI job's account; its client id is its ``name``."""

    id: str
    name: str
    groups: frozenset[str]
    scope: frozenset[str] | None
    created_at: datetime
    created_by: str | None = None
    expires_at: datetime | None = None
    secret_rotated_at: datetime | None = None
    secret_expires_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_by: str | None = None
    disable_reason: str | None = None

    def refusal(self, now: datetime) -> str | None:
        """Why the account cannot get a token now, or None."""
        if self.disabled_at is not None:
            return f"service account {self.name} is disabled"
        if self.expires_at is not None and now >= self.expires_at:
            return f"service account {self.name} expired at {self.expires_at:%Y-%m-%d %H:%M}Z"
        if self.secret_expires_at is not None and now >= self.secret_expires_at:
            return f"the secret of {self.name} expired; rotate it"
        return None


def _account(row: ServiceAccountRow) -> ServiceAccount:
    return ServiceAccount(
        id=row.id,
        name=row.name,
        groups=frozenset(row.groups),
        scope=frozenset(row.scope) if row.scope is not None else None,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        secret_rotated_at=row.secret_rotated_at,
        secret_expires_at=row.secret_expires_at,
        disabled_at=row.disabled_at,
        disabled_by=row.disabled_by,
        disable_reason=row.disable_reason,
    )


def _audit(action: str, by: Identity, target: str, at: datetime, **details: object) -> AuditEntry:
    return AuditEntry(
        action=action, actor=by, target=target, outcome="ok", at=at, details=dict(details)
    )


class IdentityStore:
    def __init__(self, repository: SqlRepository) -> None:
        self.repository = repository
        self.database = repository.database

    # -- service accounts -----------------------------------------------------------------

    async def add_service_account(
        self, account: ServiceAccount, secret_hash: str, by: Identity
    ) -> ServiceAccount:
        """Store a new account; IntegrityError if the name is taken."""
        row = ServiceAccountRow(
            id=account.id,
            name=account.name,
            groups=sorted(account.groups),
            secret_hash=secret_hash,
            created_at=account.created_at,
            expires_at=account.expires_at,
            scope=sorted(account.scope) if account.scope is not None else None,
            created_by=by.subject,
            secret_expires_at=account.secret_expires_at,
        )
        entry = _audit(
            "service_account.created",
            by,
            account.name,
            account.created_at,
            groups=row.groups,
            scope=row.scope,
        )
        async with self.repository.transaction() as tx:
            if await self._exists(tx.session, account.name):
                raise IntegrityError(f"a service account named {account.name} already exists")
            tx.session.add(row)
            await tx.session.flush()
            await tx.append_audit(entry)
        return _account(row)

    @staticmethod
    async def _exists(session: AsyncSession, name: str) -> bool:
        found = await session.scalar(
            select(col(ServiceAccountRow.id)).where(col(ServiceAccountRow.name) == name)
        )
        return found is not None

    async def service_account(self, name: str) -> tuple[ServiceAccount, str] | None:
        """The account and its secret hash, or None."""
        async with self.database.read() as session:
            row = (
                await session.scalars(
                    select(ServiceAccountRow).where(col(ServiceAccountRow.name) == name)
                )
            ).one_or_none()
        return (_account(row), row.secret_hash) if row is not None else None

    async def list_service_accounts(self) -> list[ServiceAccount]:
        query = select(ServiceAccountRow).order_by(col(ServiceAccountRow.name))
        async with self.database.read() as session:
            return [_account(row) for row in await session.scalars(query)]

    async def rotate_secret(
        self,
        name: str,
        secret_hash: str,
        *,
        at: datetime,
        secret_expires_at: datetime | None,
        by: Identity,
    ) -> ServiceAccount | None:
        """Replace the secret (the old one stops working at once); None if there is no such
        account. Tokens already issued keep their (short) lifetime."""
        async with self.repository.transaction() as tx:
            result = await tx.session.execute(
                update(ServiceAccountRow)
                .where(col(ServiceAccountRow.name) == name)
                .values(
                    secret_hash=secret_hash,
                    secret_rotated_at=at,
                    secret_expires_at=secret_expires_at,
                )
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                return None
            await tx.append_audit(_audit("service_account.rotated", by, name, at))
        found = await self.service_account(name)
        return found[0] if found else None

    async def disable_service_account(self, revocation: Revocation) -> ServiceAccount | None:
        """Disable the account named ``revocation.key``: its tokens are refused from now on and
        its sessions end (the ``identity.revoked`` event). None if there is no such account."""
        assert revocation.what is RevokedWhat.SERVICE_ACCOUNT
        async with self.repository.transaction() as tx:
            result = await tx.session.execute(
                update(ServiceAccountRow)
                .where(col(ServiceAccountRow.name) == revocation.key)
                .values(
                    disabled_at=revocation.at,
                    disabled_by=revocation.by.subject,
                    disable_reason=revocation.reason,
                )
                .execution_options(synchronize_session=False)
            )
            if not getattr(result, "rowcount", 0):
                return None
            await tx.append_audit(revocation.audit())
            await tx.emit(revocation.event())
        found = await self.service_account(revocation.key)
        return found[0] if found else None

    # -- revocations ----------------------------------------------------------------------

    async def revoke_subject(self, revocation: Revocation) -> None:
        """Refuse every token naming ``revocation.key`` anywhere in its chain; IntegrityError
        if it already stands revoked."""
        assert revocation.what is RevokedWhat.SUBJECT
        revocation = replace(revocation, key=canonical(revocation.key))
        row = RevokedSubjectRow(
            subject=revocation.key,
            reason=revocation.reason,
            revoked_by=revocation.by.subject,
            revoked_at=revocation.at,
        )
        await self._revoke(row, revocation)

    async def revoke_token(self, revocation: Revocation, expires_at: datetime | None) -> None:
        """Refuse the token ``revocation.key`` (a jti) and every token exchanged from it."""
        assert revocation.what is RevokedWhat.TOKEN
        row = RevokedTokenRow(
            jti=revocation.key,
            reason=revocation.reason,
            revoked_by=revocation.by.subject,
            revoked_at=revocation.at,
            expires_at=expires_at,
        )
        await self._revoke(row, revocation)

    async def _revoke(
        self, row: RevokedSubjectRow | RevokedTokenRow, revocation: Revocation
    ) -> None:
        async with self.repository.transaction() as tx:
            existing = await tx.session.get(type(row), revocation.key)
            if existing is not None:
                raise IntegrityError(f"{revocation.key} is already revoked")
            tx.session.add(row)
            await tx.session.flush()
            await tx.append_audit(revocation.audit())
            await tx.emit(revocation.event())

    async def restore_subject(self, subject: str, by: Identity, at: datetime) -> bool:
        """Lift a subject's revocation; False if it was not revoked."""
        subject = canonical(subject)
        async with self.repository.transaction() as tx:
            result = await tx.session.execute(
                delete(RevokedSubjectRow).where(col(RevokedSubjectRow.subject) == subject)
            )
            if not getattr(result, "rowcount", 0):
                return False
            await tx.append_audit(_audit("subject.restored", by, subject, at))
            await tx.emit(DomainEvent(IDENTITY_RESTORED, subject, {"by": by.subject}))
        return True

    async def prune_revoked_tokens(self, expired_before: datetime) -> int:
        """Forget token revocations whose token expired before ``expired_before``: such a token
        (and every token exchanged from it, which expires no later) is refused anyway. The audit
        trail keeps the revocation; revocations of unknown expiry are kept."""
        async with self.repository.database.write() as session:
            result = await session.execute(
                delete(RevokedTokenRow)
                .where(col(RevokedTokenRow.expires_at) < expired_before)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def revoked(self, subjects: Collection[str], token_ids: Collection[str]) -> str | None:
        """Why a token naming ``subjects`` (its chain) and resting on ``token_ids`` (its own jti
        and those it was exchanged from) is refused, or None when nothing is revoked."""
        async with self.database.read() as session:
            return await revocation_reason(session, [canonical(s) for s in subjects], token_ids)

    async def list_revoked_subjects(self) -> list[tuple[str, str, str, datetime]]:
        """(subject, reason, revoked_by, revoked_at), newest first."""
        query = select(RevokedSubjectRow).order_by(col(RevokedSubjectRow.revoked_at).desc())
        async with self.database.read() as session:
            return [
                (r.subject, r.reason, r.revoked_by, r.revoked_at)
                for r in await session.scalars(query)
            ]

    # -- usage ----------------------------------------------------------------------------

    async def add_delegation_uses(self, uses: Mapping[str, tuple[int, datetime]]) -> None:
        """Add ``count`` uses and set ``last_used_at`` (never backwards) per delegation id."""
        if not uses:
            return
        async with self.database.write() as session:
            for delegation_id, (count, at) in sorted(uses.items()):
                await session.execute(
                    update(DelegationRow)
                    .where(col(DelegationRow.id) == delegation_id)
                    .values(use_count=col(DelegationRow.use_count) + count)
                    .execution_options(synchronize_session=False)
                )
                await session.execute(
                    update(DelegationRow)
                    .where(
                        col(DelegationRow.id) == delegation_id,
                        (col(DelegationRow.last_used_at).is_(None))
                        | (col(DelegationRow.last_used_at) < at),
                    )
                    .values(last_used_at=at)
                    .execution_options(synchronize_session=False)
                )
