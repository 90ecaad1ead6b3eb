"""SSH keys: public keys registered to an identity for the SSH listener (store/ssh_keys.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as they are at this revision (see store/columns.py).
TIME = sa.DateTime(timezone=True)
STR = sa.String()
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ssh_key",
        sa.Column("fingerprint", STR, nullable=False),
        sa.Column("subject", STR, nullable=False),
        sa.Column("kind", STR, nullable=False),
        sa.Column("groups", JSON_DOC, nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("comment", STR, nullable=True),
        sa.Column("added_by", STR, nullable=False),
        sa.Column("added_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    op.create_index("ix_ssh_key_subject", "ssh_key", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_ssh_key_subject", table_name="ssh_key")
    op.drop_table("ssh_key")
