"""Scheduler bookkeeping and chat notices: scheduler_run, scheduler_mark, chat_notice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as they were at this revision (see store/columns.py).
TIME = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STR = sa.String()


def upgrade() -> None:
    op.create_table(
        "scheduler_run",
        sa.Column("job", STR, nullable=False),
        sa.Column("tick", TIME, nullable=False),
        sa.Column("instance", STR, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("job", "tick"),
    )
    op.create_table(
        "scheduler_mark",
        sa.Column("job", STR, nullable=False),
        sa.Column("key", STR, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("job", "key"),
    )
    op.create_table(
        "chat_notice",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("key", STR, nullable=False),
        sa.Column("kind", STR, nullable=False),
        sa.Column("provider", STR, nullable=False),
        sa.Column("channel", STR, nullable=False),
        sa.Column("ts", STR, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "channel", "ts", name="uq_chat_notice_ref"),
    )
    op.create_index("ix_chat_notice_key_kind", "chat_notice", ["key", "kind"])


def downgrade() -> None:
    op.drop_index("ix_chat_notice_key_kind", table_name="chat_notice")
    for table in ("chat_notice", "scheduler_mark", "scheduler_run"):
        op.drop_table(table)
