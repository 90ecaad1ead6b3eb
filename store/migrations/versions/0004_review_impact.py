"""Review: the impact preview of a held write, and the hash of the exact bytes held.

A held statement's text may be stored redacted (a password in ``ALTER ROLE``): the approval
still binds to the exact bytes the session holds, and ``statement_sha256`` records their hash.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVIEW_COLUMNS = (
    ("impact_rows", sa.Integer()),
    ("impact_note", sa.Text()),
    ("statement_sha256", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        for name, type_ in REVIEW_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review") as batch:
        for name, _type in reversed(REVIEW_COLUMNS):
            batch.drop_column(name)
