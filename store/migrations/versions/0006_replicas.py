"""Replicas: each gateway process's row (its heartbeat), the replica a session ran on, and why
the system cancelled a review.

A gateway process registers a ``replica`` row when it starts (a random id per process start,
its host, its pid) and heartbeats it; another replica, or the same host's next start, reaps a
replica that stopped heartbeating: ends its sessions (``session.replica_id``) and cancels their
pending reviews, saying why in ``review.cancel_reason`` (docs/operations.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as they are at this revision (see store/columns.py).
TIME = sa.DateTime(timezone=True)
STR = sa.String()


def upgrade() -> None:
    op.create_table(
        "replica",
        sa.Column("id", STR, nullable=False),
        sa.Column("host", STR, nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("pid_namespace", STR, nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.Column("stopped_at", TIME, nullable=True),
        sa.Column("stopped_by", STR, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_replica_stopped_at_heartbeat_at", "replica", ["stopped_at", "heartbeat_at"])
    with op.batch_alter_table("session") as batch:
        batch.add_column(sa.Column("replica_id", STR, nullable=True))
        batch.create_index("ix_session_replica_id", ["replica_id"])
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.drop_column("cancel_reason")
    with op.batch_alter_table("session") as batch:
        batch.drop_index("ix_session_replica_id")
        batch.drop_column("replica_id")
    op.drop_index("ix_replica_stopped_at_heartbeat_at", table_name="replica")
    op.drop_table("replica")
