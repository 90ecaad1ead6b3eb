"""Migration 0005: subjects stored in other spellings before identities were canonical are
rewritten, so lookups, revocations and quorum see one person (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlmodel import col

from approvals import Decision, Delegation, Identity, Outcome, Review, ReviewKind, ReviewState
from store import Database, IdentityStore, SqlRepository, upgrade
from store.bus import InProcessBus
from store.identity_tables import RevokedSubjectRow
from store.mapping import decision_to_row, delegation_to_row, review_to_row
from store.tables import DecisionRow, IdentityRow, ReviewRow

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _review() -> Review:
    return Review(
        id="r-1",
        kind=ReviewKind.STATEMENT,
        requester=Identity("alice@example.com"),
        connection="pg",
        state=ReviewState.PENDING,
        quorum=2,
        created_at=AT,
        expires_at=AT + timedelta(minutes=15),
        statement="DROP TABLE t",
    )


def _decision(decision_id: str, spelt: str, position: int) -> DecisionRow:
    decision = Decision(decision_id, "r-1", Identity(spelt), Outcome.APPROVE, None, AT)
    row = decision_to_row(decision, position)
    row.approver_subject = spelt  # as an older release stored it
    row.approver = {**row.approver, "subject": spelt}
    return row


async def _old_rows(db: Database) -> None:
    """Rows as a release before 0005 could leave them: one person in several spellings."""
    review = review_to_row(_review())
    review.requester_subject = "Alice@Example.com"
    grant = Delegation(
        "d-1", "Bob@Example.com", "pg", None, "Carol@Example.com", "INC-1", AT, AT + timedelta(1)
    )
    async with db.write() as session:
        # The columns of the schema at 0004: later revisions' (0006's cancel_reason, 0007's
        # via, ticket and redeemed_at) left out.
        values = review.model_dump(exclude={"cancel_reason", "via", "ticket", "redeemed_at"})
        await session.execute(insert(ReviewRow.__table__).values(**values))  # type: ignore[attr-defined]
        session.add(delegation_to_row(grant))
        for subject, reason in (("Mallory@Example.com", "left"), ("eve@example.com", "one"),
                                ("EVE@example.com", "two")):  # fmt: skip
            row = RevokedSubjectRow(
                subject=subject, reason=reason, revoked_by="Root@Example.com", revoked_at=AT
            )
            session.add(row)
        session.add(
            IdentityRow(
                subject="Dave@Example.com", kind="person", email="Dave@Example.com",
                groups=[], created_at=AT,
            )
        )  # fmt: skip
        await session.flush()
        session.add(_decision("x-1", "bob@example.com", 0))
        session.add(_decision("x-2", "BOB@example.com", 1))
        session.add(_decision("x-3", "Erin@Example.com", 2))


async def test_old_spellings_become_one_subject(database_url: str) -> None:
    """After 0005 a grant, a revocation and a requester stored in capitals are found by the
    canonical spelling; a revocation kept in two spellings stays one revoked subject; two
    decisions of one person on one review still count once when read back."""
    await upgrade(database_url, "0004")
    async with Database(database_url) as db:
        await _old_rows(db)
    await upgrade(database_url)
    async with Database(database_url) as db:
        repository = SqlRepository(db, InProcessBus())
        grants = await repository.list_delegations(subject="bob@example.com")
        assert [(g.id, g.granted_by) for g in grants] == [("d-1", "carol@example.com")]
        identities = IdentityStore(repository)
        assert await identities.revoked(["mallory@example.com"], []) is not None
        assert await identities.revoked(["eve@example.com"], []) is not None
        revoked = [s for s, *_ in await identities.list_revoked_subjects()]
        assert sorted(revoked) == ["eve@example.com", "mallory@example.com"]
        assert [r.id for r in await repository.list_reviews(requester="alice@example.com")] == [
            "r-1"
        ]
        review = await repository.get_review("r-1")
        assert review is not None
        assert {d.approver.subject for d in review.approvals} == {
            "bob@example.com",
            "erin@example.com",
        }
        async with db.read() as session:
            people = list(await session.scalars(select(col(IdentityRow.subject))))
            spelt = list(await session.scalars(select(col(DecisionRow.approver_subject))))
        assert people == ["dave@example.com"]
        assert sorted(spelt) == ["BOB@example.com", "bob@example.com", "erin@example.com"]
