"""Initial schema: identities, reviews and decisions, delegations, sessions, the audit chain,
the outbox and its deliveries, chat message references, digests, stored keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as they were at this revision (see store/columns.py); kept here so this file
# never changes meaning when the application's types evolve.
TIME = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
JSON_EXACT = sa.JSON()
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STR = sa.String()

TABLES = (
    "stored_key",
    "session_event",
    "outbox_delivery",
    "delegation",
    "decision",
    "chat_message",
    "session",
    "review",
    "outbox",
    "audit_event",
    "digest",
    "service_account",
    "identity",
)


def upgrade() -> None:
    _identities()
    _reviews()
    _delegations()
    _sessions()
    _audit()
    _outbox()
    _chat_and_digests()


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)


def _identities() -> None:
    op.create_table(
        "identity",
        sa.Column("subject", STR, nullable=False),
        sa.Column("kind", STR, nullable=False),
        sa.Column("email", STR, nullable=True),
        sa.Column("groups", JSON_DOC, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_seen_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("subject"),
    )
    op.create_index("ix_identity_email", "identity", ["email"])
    op.create_table(
        "service_account",
        sa.Column("id", STR, nullable=False),
        sa.Column("name", STR, nullable=False),
        sa.Column("groups", JSON_DOC, nullable=False),
        sa.Column("secret_hash", STR, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def _reviews() -> None:
    op.create_table(
        "review",
        sa.Column("id", STR, nullable=False),
        sa.Column("kind", STR, nullable=False),
        sa.Column("requester_subject", STR, nullable=False),
        sa.Column("requester", JSON_DOC, nullable=False),
        sa.Column("connection", STR, nullable=False),
        sa.Column("state", STR, nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("access_role", STR, nullable=True),
        sa.Column("access_duration_s", sa.Integer(), nullable=True),
        sa.Column("access_reason", sa.Text(), nullable=True),
        sa.Column("risk", STR, nullable=True),
        sa.Column("rule", STR, nullable=True),
        sa.Column("session_id", STR, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_state_created_at", "review", ["state", "created_at"])
    op.create_index("ix_review_state_expires_at", "review", ["state", "expires_at"])
    op.create_index("ix_review_connection_created_at", "review", ["connection", "created_at"])
    op.create_index("ix_review_requester_subject", "review", ["requester_subject"])
    op.create_index("ix_review_session_id", "review", ["session_id"])
    op.create_table(
        "decision",
        sa.Column("id", STR, nullable=False),
        sa.Column("review_id", STR, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("approver_subject", STR, nullable=False),
        sa.Column("approver", JSON_DOC, nullable=False),
        sa.Column("outcome", STR, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["review.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "approver_subject", name="uq_decision_review_approver"),
        sa.UniqueConstraint("review_id", "position", name="uq_decision_review_position"),
    )
    op.create_index("ix_decision_approver_subject", "decision", ["approver_subject"])


def _delegations() -> None:
    op.create_table(
        "delegation",
        sa.Column("id", STR, nullable=False),
        sa.Column("subject", STR, nullable=False),
        sa.Column("connection", STR, nullable=False),
        sa.Column("role", STR, nullable=True),
        sa.Column("granted_by", STR, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("review_id", STR, nullable=True),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.Column("revoked_by", STR, nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("recertified_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["review_id"], ["review.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delegation_subject_connection", "delegation", ["subject", "connection"])
    op.create_index(
        "ix_delegation_connection_expires_at", "delegation", ["connection", "expires_at"]
    )
    op.create_index("ix_delegation_expires_at", "delegation", ["expires_at"])
    op.create_index("ix_delegation_review_id", "delegation", ["review_id"])


def _sessions() -> None:
    op.create_table(
        "session",
        sa.Column("id", STR, nullable=False),
        sa.Column("subject", STR, nullable=False),
        sa.Column("identity", JSON_DOC, nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("connection", STR, nullable=False),
        sa.Column("client_addr", STR, nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("stats", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_session_started_at", "session", ["started_at"])
    op.create_index("ix_session_subject_started_at", "session", ["subject", "started_at"])
    op.create_index("ix_session_connection_started_at", "session", ["connection", "started_at"])
    op.create_table(
        "session_event",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("session_id", STR, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("kind", STR, nullable=False),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("outcome", STR, nullable=True),
        sa.Column("details", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "seq", name="uq_session_event_seq"),
    )


def _audit() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", BIGID, autoincrement=False, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("action", STR, nullable=False),
        sa.Column("actor_subject", STR, nullable=True),
        sa.Column("actor_chain", JSON_DOC, nullable=False),
        sa.Column("connection", STR, nullable=True),
        sa.Column("target", STR, nullable=False),
        sa.Column("outcome", STR, nullable=False),
        sa.Column("details", JSON_EXACT, nullable=False),
        sa.Column("prev_hash", STR, nullable=False),
        sa.Column("hash", STR, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    for column in ("at", "action", "actor_subject", "connection", "target"):
        op.create_index(f"ix_audit_event_{column}", "audit_event", [column])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_audit_event_actor_chain",
            "audit_event",
            ["actor_chain"],
            postgresql_using="gin",
        )


def _outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("topic", STR, nullable=False),
        sa.Column("key", STR, nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_topic_id", "outbox", ["topic", "id"])
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    op.create_table(
        "outbox_delivery",
        sa.Column("outbox_id", BIGID, nullable=False),
        sa.Column("consumer", STR, nullable=False),
        sa.Column("lease_until", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outbox_id", "consumer"),
    )
    op.create_index("ix_outbox_delivery_consumer", "outbox_delivery", ["consumer", "delivered_at"])


def _chat_and_digests() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("review_id", STR, nullable=False),
        sa.Column("provider", STR, nullable=False),
        sa.Column("channel", STR, nullable=False),
        sa.Column("ts", STR, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["review.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "channel", "ts", name="uq_chat_message_ref"),
    )
    op.create_index("ix_chat_message_review_id", "chat_message", ["review_id"])
    op.create_table(
        "digest",
        sa.Column("id", STR, nullable=False),
        sa.Column("owner", STR, nullable=False),
        sa.Column("sent_at", TIME, nullable=False),
        sa.Column("payload", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_digest_owner", "digest", ["owner"])
    op.create_index("ix_digest_sent_at", "digest", ["sent_at"])
    op.create_table(
        "stored_key",
        sa.Column("name", STR, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
