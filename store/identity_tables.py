"""The tables of identity revocation (migration 0003): ``revoked_subject`` and ``revoked_token``,
and :func:`revocation_reason`, the one query that reads them (with disabled service accounts).

The service accounts' own table is :class:`store.tables.ServiceAccountRow` (0001, widened by
0003). See :mod:`approvals.revocation` for what a revocation means. Subjects are stored in their
canonical form (:mod:`approvals.subjects`, migration 0005).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Text, bindparam, literal, literal_column, select, union_all
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


def _revocation_query(*, with_tokens: bool) -> Any:
    """The union behind :func:`revocation_reason`, built once: ``names`` and ``ids`` are
    expanding parameters, so every call reuses one statement and its compiled form."""
    names: BindParameter[list[str]] = bindparam("names", expanding=True)
    ids: BindParameter[list[str]] = bindparam("ids", expanding=True)
    parts: list[Any] = [  # selects of (kind, name, why)
        select(
            literal(1).label("kind"),
            col(RevokedSubjectRow.subject).label("name"),
            col(RevokedSubjectRow.reason).label("why"),
        ).where(col(RevokedSubjectRow.subject).in_(names)),
        select(
            literal(2).label("kind"),
            col(ServiceAccountRow.name).label("name"),
            col(ServiceAccountRow.disable_reason).label("why"),
        ).where(
            col(ServiceAccountRow.name).in_(names),
            col(ServiceAccountRow.disabled_at).is_not(None),
        ),
    ]
    if with_tokens:
        parts.append(
            select(
                literal(3).label("kind"),
                col(RevokedTokenRow.jti).label("name"),
                col(RevokedTokenRow.reason).label("why"),
            ).where(col(RevokedTokenRow.jti).in_(ids))
        )
    return union_all(*parts).order_by(literal_column("kind")).limit(1)


_BY_SUBJECT = _revocation_query(with_tokens=False)
_BY_SUBJECT_OR_TOKEN = _revocation_query(with_tokens=True)


async def revocation_reason(
    session: AsyncSession, subjects: Collection[str], token_ids: Collection[str] = ()
) -> str | None:
    """Why a chain naming ``subjects`` (canonical) and resting on ``token_ids`` is refused: a
    revoked subject, a disabled service account or a revoked token (in that order of
    precedence); None when nothing is. One query: every API call and every session login asks
    this, so it is one round trip to the store, not three (issue 23)."""
    names, ids = list(subjects), list(token_ids)
    if ids:
        query, params = _BY_SUBJECT_OR_TOKEN, {"names": names, "ids": ids}
    else:
        query, params = _BY_SUBJECT, {"names": names}
    found = (await session.execute(query, params)).first()
    if found is None:
        return None
    kind, name, why = found
    if kind == 1:
        return f"{name} was revoked: {why}"
    if kind == 2:
        return f"service account {name} is disabled: {why or 'no reason'}"
    return f"token {name} was revoked: {why}"
