"""Identity: service-account scope, rotation and disabling; revoked subjects and tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as they were at this revision (see store/columns.py).
TIME = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STR = sa.String()

SERVICE_ACCOUNT_COLUMNS = (
    ("scope", JSON_DOC),
    ("created_by", STR),
    ("secret_rotated_at", TIME),
    ("secret_expires_at", TIME),
    ("disabled_by", STR),
    ("disable_reason", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("service_account") as batch:
        for name, type_ in SERVICE_ACCOUNT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "revoked_subject",
        sa.Column("subject", STR, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", STR, nullable=False),
        sa.Column("revoked_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_table(
        "revoked_token",
        sa.Column("jti", STR, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", STR, nullable=False),
        sa.Column("revoked_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_token_expires_at", "revoked_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_revoked_token_expires_at", table_name="revoked_token")
    op.drop_table("revoked_token")
    op.drop_table("revoked_subject")
    with op.batch_alter_table("service_account") as batch:
        for name, _type in reversed(SERVICE_ACCOUNT_COLUMNS):
            batch.drop_column(name)
