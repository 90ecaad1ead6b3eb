"""``/v1/reviews``: list, get and decide reviews; ``/v1/access-requests``: ask for access."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from approvals import Identity, Outcome, Review, ReviewKind, ReviewState
from gateway.api.auth import Caller, Context
from gateway.api.context import ApiContext
from gateway.api.errors import ApiError
from gateway.api.schemas import AccessRequestIn, DecisionIn, ErrorOut, ReviewOut
from gateway.config import parse_duration

__all__ = ["acting_for", "router"]

router = APIRouter(prefix="/v1", tags=["reviews"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}


@router.get("/reviews", responses=_ERRORS)
async def list_reviews(
    ctx: Context,
    who: Caller,
    state: ReviewState | None = None,
    connection: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ReviewOut]:
    """Reviews the caller may see (approvers, owners, the requester's chain, auditors),
    newest first."""
    reviews = await _visible(ctx, who, state=state, connection=connection, limit=limit)
    return [ReviewOut.of(r) for r in reviews]


@router.get("/reviews/{review_id}", responses=_ERRORS)
async def get_review(ctx: Context, who: Caller, review_id: str) -> ReviewOut:
    review = await ctx.repository.get_review(review_id)
    if review is None or not ctx.may_see(who, review):
        raise ApiError(404, "not_found", f"no review {review_id}")
    return ReviewOut.of(review)


@router.post("/reviews/{review_id}/decisions", responses=_ERRORS)
async def decide(ctx: Context, who: Caller, review_id: str, body: DecisionIn) -> ReviewOut:
    """Approve or deny. The service enforces everything (no agents, no revoked link of the
    chain, approver, no self-approval, one vote per person, quorum, not final) for every door
    alike: this route, the chat bot's (which names the clicking person in ``approver``) and the
    CLI's all end in :meth:`approvals.ApprovalService.decide`."""
    approver = acting_for(ctx, who, body.approver, "decide")
    review = await ctx.service.decide(
        review_id, approver, Outcome(body.outcome), body.reason, break_glass=body.break_glass
    )
    ctx.metrics.decisions.labels(body.outcome).inc()
    return ReviewOut.of(review)


@router.post("/access-requests", status_code=201, responses=_ERRORS)
async def request_access(ctx: Context, who: Caller, body: AccessRequestIn) -> ReviewOut:
    """Ask for time-bounded access to a connection; approval creates a delegation.

    The chat bot asks for the person who typed ``/access request`` by naming them in
    ``requester`` (symmetric with ``approver`` on decisions).
    """
    try:
        duration = parse_duration(body.duration)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    if duration <= timedelta(0):
        raise ApiError(422, "invalid_request", f"duration must be positive, got {body.duration!r}")
    requester = acting_for(ctx, who, body.requester, "request access")
    review = await ctx.service.request_access(
        requester, body.connection, role=body.role, duration=duration, reason=body.reason
    )
    return ReviewOut.of(review)


@router.get("/access-requests", responses=_ERRORS)
async def list_access_requests(
    ctx: Context,
    who: Caller,
    state: ReviewState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[ReviewOut]:
    """Access requests the caller may see, newest first."""
    reviews = await _visible(
        ctx, who, state=state, limit=limit, keep=lambda r: r.kind is ReviewKind.ACCESS
    )
    return [ReviewOut.of(r) for r in reviews]


# Visibility is decided after the rows are read, so for a caller who may see few reviews more
# rows are read (4x each round) until ``limit`` visible ones are found or the rows run out; at
# most _SCAN rows, so one request never reads the whole history.
_SCAN = 20_000


async def _visible(
    ctx: ApiContext,
    who: Identity,
    *,
    state: ReviewState | None,
    limit: int,
    connection: str | None = None,
    keep: Callable[[Review], bool] = lambda _: True,
) -> list[Review]:
    fetch = limit
    while True:
        rows = await ctx.repository.list_reviews(state=state, connection=connection, limit=fetch)
        found = [r for r in rows if keep(r) and ctx.may_see(who, r)]
        if len(found) >= limit or len(rows) < fetch or fetch >= _SCAN:
            return found[:limit]
        fetch = min(fetch * 4, _SCAN)


def acting_for(ctx: ApiContext, who: Identity, person: str | None, what: str) -> Identity:
    """The caller; or, when the chat bot (a caller in ``[api] bot_groups``) names a person's
    e-mail (``approver``, ``requester``, ``revoker``), that person, as ``[[people]]`` describes
    them (the e-mail in its canonical spelling, approvals.subjects). Policy then applies to the
    person exactly as if they had called themselves, revocation included (the service checks
    it)."""
    if person is None:
        return who
    if not ctx.is_bot(who):
        raise ApiError(403, "forbidden", f"only the chat bot may {what} for someone else")
    found = ctx.person(person)
    if found is not None:
        return found
    if "@" not in person:
        raise ApiError(403, "unknown_person", f"{person} is not a person's e-mail")
    # Not in [[people]]: no groups, so only what needs none passes (e.g. approvers named in
    # `identities`).
    return Identity(subject=person, email=person)
