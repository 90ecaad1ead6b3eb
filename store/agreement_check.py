"""Do the reviews and decisions agree with the audit events that recorded them? The rule, with
no database in it (:func:`compare`); :func:`store.agreement.disagreements` reads the rows
through the store, ``airlock audit verify`` on a SQLite file with the standard library
(:mod:`store.sqlite_audit`). Imports no SQLAlchemy; see :mod:`store.agreement` for the why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "EVENT_COLUMNS",
    "OPENINGS",
    "REVIEW_ACTIONS",
    "DecisionFacts",
    "ReviewFacts",
    "StoredDecision",
    "StoredReview",
    "compare",
]

OPENINGS = {"statement": "statement.held", "access": "access.requested"}
REVIEW_ACTIONS = (*OPENINGS.values(), "review.decision", "review.final")
# The audit event's columns compare() reads, in the order of its ``events`` tuples.
EVENT_COLUMNS = ("seq", "action", "target", "actor_subject", "connection", "outcome", "details")


class ReviewFacts(Protocol):
    """What compare() reads of a review row (the store's ReviewRow has it)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def requester_subject(self) -> str: ...
    @property
    def connection(self) -> str: ...
    @property
    def statement(self) -> str | None: ...
    @property
    def access_role(self) -> str | None: ...
    @property
    def access_duration_s(self) -> int | None: ...
    @property
    def access_reason(self) -> str | None: ...


class DecisionFacts(Protocol):
    """What compare() reads of a decision row (the store's DecisionRow has it)."""

    @property
    def id(self) -> str: ...
    @property
    def review_id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def approver_subject(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def break_glass(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class StoredReview:
    """A review row as read without the ORM."""

    id: str
    kind: str
    state: str
    requester_subject: str
    connection: str
    statement: str | None
    access_role: str | None
    access_duration_s: int | None
    access_reason: str | None


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision row as read without the ORM."""

    id: str
    review_id: str
    position: int
    approver_subject: str
    outcome: str
    reason: str | None
    break_glass: bool


@dataclass(frozen=True, slots=True)
class _Event:
    seq: int
    action: str
    actor: str | None
    connection: str | None
    outcome: str
    details: dict[str, Any]


def compare(
    reviews: Sequence[ReviewFacts],
    decisions: Iterable[DecisionFacts],
    rows: Iterable[Sequence[Any]],
) -> list[str]:
    """Every place where a review or decision row and its audit events differ; ``rows`` are
    the events whose action is in :data:`REVIEW_ACTIONS`, in seq order, as
    :data:`EVENT_COLUMNS` tuples."""
    events: dict[str, list[_Event]] = defaultdict(list)
    for seq, action, target, actor, connection, outcome, details in rows:
        events[target].append(_Event(seq, action, actor, connection, outcome, dict(details)))
    votes: dict[str, list[DecisionFacts]] = defaultdict(list)
    for decision in decisions:
        votes[decision.review_id].append(decision)
    found: list[str] = []
    known = {review.id for review in reviews}
    for review in reviews:
        mine = events.pop(review.id, [])
        found += _review(review, mine)
        found += _votes(review.id, votes.pop(review.id, []), mine)
    for target, left in sorted(events.items(), key=lambda item: item[1][0].seq):
        if target not in known:
            found.append(
                f"audit event {left[0].seq} ({left[0].action}) is about review {target}, "
                "which the store does not have (the review row was deleted)"
            )
    return found


def _review(review: ReviewFacts, events: list[_Event]) -> list[str]:
    """The review row against its opening and final events."""
    found: list[str] = []
    name = f"review {review.id}"
    action = OPENINGS.get(review.kind)
    opened = [e for e in events if e.action in OPENINGS.values()]
    if action is None:
        found.append(f"{name} has kind {review.kind!r}, which no audit event records")
    elif len(opened) != 1 or opened[0].action != action:
        found.append(f"{name} ({review.kind}) has no single {action} audit event")
    else:
        found += _opening(name, review, opened[0])
    final = [e for e in events if e.action == "review.final"]
    if review.state == "pending":
        if final:
            found.append(
                f"{name} is pending in the store, but audit event {final[0].seq} ended it as "
                f"{final[0].outcome}"
            )
    elif len(final) != 1:
        found.append(f"{name} is {review.state} in the store; no single review.final event")
    elif final[0].outcome != review.state:
        found.append(
            f"{name} is {review.state} in the store; audit event {final[0].seq} says "
            f"{final[0].outcome}"
        )
    return found


def _opening(name: str, review: ReviewFacts, event: _Event) -> list[str]:
    wanted: dict[str, Any] = {
        "requester": (review.requester_subject, event.actor),
        "connection": (review.connection, event.connection),
    }
    if review.kind == "statement":
        wanted["statement"] = (review.statement, event.details.get("statement"))
    else:
        wanted["access role"] = (review.access_role, event.details.get("role"))
        wanted["access duration"] = (review.access_duration_s, event.details.get("duration_s"))
        wanted["access reason"] = (review.access_reason, event.details.get("reason"))
    return [
        f"{name}: its {what} in the store differs from audit event {event.seq}"
        for what, (stored, recorded) in wanted.items()
        if stored != recorded
    ]


def _votes(review_id: str, decisions: list[DecisionFacts], events: list[_Event]) -> list[str]:
    """Decision rows against ``review.decision`` events, matched by approver."""
    found: list[str] = []
    recorded: dict[str | None, list[_Event]] = defaultdict(list)
    for event in events:
        if event.action == "review.decision":
            recorded[event.actor].append(event)
    for decision in sorted(decisions, key=lambda d: d.position):
        name = f"decision {decision.id} on review {review_id} by {decision.approver_subject}"
        matches = recorded.pop(decision.approver_subject, [])
        if len(matches) != 1:
            found.append(f"{name} has {len(matches)} review.decision audit events, not one")
            continue
        event = matches[0]
        stored = (decision.outcome, decision.reason, decision.break_glass)
        said = (event.outcome, event.details.get("reason"), event.details.get("break_glass"))
        for what, mine, theirs in zip(
            ("outcome", "reason", "break-glass"), stored, said, strict=True
        ):
            if mine != theirs:
                found.append(
                    f"{name}: its {what} is {mine!r} in the store, {theirs!r} in audit event "
                    f"{event.seq}"
                )
    for actor, left in recorded.items():
        for event in left:
            found.append(
                f"audit event {event.seq} records a decision by {actor} on review {review_id} "
                "that the store does not have"
            )
    return found
