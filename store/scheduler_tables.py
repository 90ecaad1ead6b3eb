"""The tables of the scheduler's bookkeeping and of chat notices (migration 0002).

- ``scheduler_run``: one row per (job, tick) that some replica ran, so that with several
  scheduler replicas each tick of each job runs once (see :mod:`store.scheduling`);
- ``scheduler_mark``: what a job already did for one thing (the reminder steps sent for a
  review, the expiry notice sent for a grant), written in the transaction that emits the event;
- ``chat_notice``: chat messages that are not review cards — digest pages, expiry notices,
  owners' notices — with their reference, so they are said once and redrawn in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.columns import BIGID, UTCDateTime

__all__ = ["ChatNoticeRow", "SchedulerMarkRow", "SchedulerRunRow"]


def _bigid() -> Any:
    return Field(default=None, sa_column=Column(BIGID, primary_key=True, autoincrement=True))


class SchedulerRunRow(SQLModel, table=True):
    """One tick of one job, claimed by the replica (``instance``) that ran it."""

    __tablename__ = "scheduler_run"

    job: str = Field(primary_key=True)
    tick: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    instance: str
    started_at: datetime = Field(sa_type=UTCDateTime)


class SchedulerMarkRow(SQLModel, table=True):
    """How many times ``job`` acted on ``key`` (e.g. reminder steps sent for a review)."""

    __tablename__ = "scheduler_mark"

    job: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    count: int = 0
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ChatNoticeRow(SQLModel, table=True):
    """A chat message about ``key`` (a digest, a delegation) of a ``kind`` (``digest:0``,
    ``expiring``, ``idle-owner``), posted by ``provider`` at (``channel``, ``ts``)."""

    __tablename__ = "chat_notice"
    __table_args__ = (
        UniqueConstraint("provider", "channel", "ts", name="uq_chat_notice_ref"),
        Index("ix_chat_notice_key_kind", "key", "kind"),
    )

    id: int | None = _bigid()
    key: str
    kind: str
    provider: str
    channel: str
    ts: str
    created_at: datetime = Field(sa_type=UTCDateTime)
