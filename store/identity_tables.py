"""The tables of identity revocation (migration 0003): ``revoked_subject`` and ``revoked_token``.

The service accounts' own table is :class:`store.tables.ServiceAccountRow` (0001, widened by
0003). See :mod:`approvals.revocation` for what a revocation means.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from store.columns import UTCDateTime

__all__ = ["RevokedSubjectRow", "RevokedTokenRow"]


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
