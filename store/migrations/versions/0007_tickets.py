"""Single-use approval tickets and the door a held statement came through.

A statement held for an agent over MCP is not waited for by a session: its approval is a ticket
(``review.ticket``, the SHA-256 of the exact request: text, parameters, connection and caller
chain) that the identical re-send redeems once (``review.redeemed_at``), within ``[gateway]
approval_ttl`` of the decision. ``review.via`` names the door (``MCP``) for the card and audit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as they are at this revision (see store/columns.py).
TIME = sa.DateTime(timezone=True)
STR = sa.String()


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.add_column(sa.Column("via", STR, nullable=True))
        batch.add_column(sa.Column("ticket", STR, nullable=True))
        batch.add_column(sa.Column("redeemed_at", TIME, nullable=True))
        batch.create_index("ix_review_ticket", ["ticket"])


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        batch.drop_index("ix_review_ticket")
        batch.drop_column("redeemed_at")
        batch.drop_column("ticket")
        batch.drop_column("via")
