"""Subjects in one spelling: rows written before identities were canonical are rewritten.

Until now a subject was stored as it came (``Bob@Example.com`` from one token, ``bob@example.com``
from another), and lookups compared it exactly, so a delegation, a revocation or a review of one
spelling was invisible to the other. From this revision every subject the application writes is
canonical (:mod:`approvals.subjects`); this migration rewrites the subjects already stored:

- ``delegation.subject`` / ``granted_by`` / ``revoked_by``, ``review.requester_subject``,
  ``session.subject``, ``revoked_subject.revoked_by``, ``revoked_token.revoked_by``,
  ``service_account.created_by`` / ``disabled_by``, ``identity.email``: rewritten in place;
- ``revoked_subject.subject`` and ``identity.subject`` (primary keys): rewritten, or, when the
  canonical spelling is already there, the other spelling's row is removed (the subject stays
  revoked; the identity row is a cache of the last token seen);
- ``decision.approver_subject`` (unique per review): rewritten unless the same review already
  holds a decision of the canonical spelling; then the row keeps its spelling and counts as the
  same person anyway, since decisions are read back into canonical identities.

JSON identity documents (``review.requester``, ``decision.approver``) are canonicalised when read.
``audit_event`` is never rewritten: its rows are hash-chained evidence of what was recorded.

The canonical form is copied here as it is at this revision (NFKC, case folding, NFKC, trimmed),
so that the migration does not change if the application's does. Downgrade keeps the rows as
they are: the original spellings are not kept anywhere.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) rewritten in place: no key or uniqueness rests on them alone.
PLAIN = (
    ("delegation", "subject"),
    ("delegation", "granted_by"),
    ("delegation", "revoked_by"),
    ("review", "requester_subject"),
    ("session", "subject"),
    ("revoked_subject", "revoked_by"),
    ("revoked_token", "revoked_by"),
    ("service_account", "created_by"),
    ("service_account", "disabled_by"),
    ("identity", "email"),
)
# (table, key column): a row whose canonical spelling already has a row is removed.
KEYED = (("revoked_subject", "subject"), ("identity", "subject"))


def canonical(subject: str) -> str:
    text = subject.strip()
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def _respelt(bind: sa.Connection, table: str, column: str) -> list[tuple[str, str]]:
    """(stored, canonical) for each distinct stored value that is not canonical."""
    query = sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
    values = [row[0] for row in bind.execute(query)]
    return [(value, canonical(value)) for value in values if canonical(value) != value]


def _plain(bind: sa.Connection, table: str, column: str) -> None:
    update = sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old")  # noqa: S608
    for old, new in _respelt(bind, table, column):
        bind.execute(update, {"old": old, "new": new})


def _keyed(bind: sa.Connection, table: str, column: str) -> None:
    exists = sa.text(f"SELECT 1 FROM {table} WHERE {column} = :new")  # noqa: S608
    remove = sa.text(f"DELETE FROM {table} WHERE {column} = :old")  # noqa: S608
    update = sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old")  # noqa: S608
    for old, new in _respelt(bind, table, column):
        taken = bind.execute(exists, {"new": new}).first() is not None
        bind.execute(remove if taken else update, {"old": old, "new": new})


def _decisions(bind: sa.Connection) -> None:
    rows = bind.execute(sa.text("SELECT id, review_id, approver_subject FROM decision")).all()
    held = {(review, subject) for _id, review, subject in rows}
    update = sa.text("UPDATE decision SET approver_subject = :new WHERE id = :id")
    for decision_id, review, subject in rows:
        new = canonical(subject)
        if new != subject and (review, new) not in held:
            bind.execute(update, {"new": new, "id": decision_id})
            held.add((review, new))


def upgrade() -> None:
    bind = op.get_bind()
    for table, column in PLAIN:
        _plain(bind, table, column)
    for table, column in KEYED:
        _keyed(bind, table, column)
    _decisions(bind)


def downgrade() -> None:
    """Nothing to undo: canonical subjects are valid at every earlier revision too."""
