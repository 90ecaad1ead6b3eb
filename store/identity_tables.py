"""The tables of identity revocation (migration 0003): ``revoked_subject`` and ``revoked_token``,
and :func:`revocation_reason`, the one query that reads them (with disabled service accounts).

The service accounts' own table is :class:`store.tables.ServiceAccountRow` (0001, widened by
0003). See :mod:`approvals.revocation` for what a revocation means. Subjects are stored in their
canonical form (:mod:`approvals.subjects`, migration 0005).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from store.columns import UTCDateTime
from store.tables import ServiceAccountRow

__all__ = ["RevokedSubjectRow", "RevokedTokenRow", "revocation_reason"]


class RevokedSubjectRow(SQLModel, table=True):
    """A subject whose tokens are refused anywhere in a chain until the row is removed."""

    __tablename__ = "revoked_subject"

    subject: str = Field(primary_key=True)
    reason: str = Field(sa_type=Text)
    revoked_by: str
    revoked_at: datetime = Field(sa_type=UTCDateTime)


class RevokedTokenRow(SQLModel, table=True):
    """A token (by ``jti``) refused with every token exchanged from it. ``expires_at`` is the
    token's own expiry when known: after it the row only documents the revocation."""

    __tablename__ = "revoked_token"

    jti: str = Field(primary_key=True)
    reason: str = Field(sa_type=Text)
    revoked_by: str
    revoked_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


async def revocation_reason(
    session: AsyncSession, subjects: Collection[str], token_ids: Collection[str] = ()
) -> str | None:
    """Why a chain naming ``subjects`` (canonical) and resting on ``token_ids`` is refused: a
    revoked subject, a disabled service account or a revoked token; None when nothing is."""
    names, ids = list(subjects), list(token_ids)
    person = (
        await session.execute(
            select(col(RevokedSubjectRow.subject), col(RevokedSubjectRow.reason))
            .where(col(RevokedSubjectRow.subject).in_(names))
            .limit(1)
        )
    ).first()
    if person is not None:
        return f"{person[0]} was revoked: {person[1]}"
    account = (
        await session.execute(
            select(col(ServiceAccountRow.name), col(ServiceAccountRow.disable_reason))
            .where(
                col(ServiceAccountRow.name).in_(names),
                col(ServiceAccountRow.disabled_at).is_not(None),
            )
            .limit(1)
        )
    ).first()
    if account is not None:
        return f"service account {account[0]} is disabled: {account[1] or 'no reason'}"
    if not ids:
        return None
    token = (
        await session.execute(
            select(col(RevokedTokenRow.jti), col(RevokedTokenRow.reason))
            .where(col(RevokedTokenRow.jti).in_(ids))
            .limit(1)
        )
    ).first()
    return f"token {token[0]} was revoked: {token[1]}" if token is not None else None
