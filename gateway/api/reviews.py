"""``/v1/reviews``: list, get and decide reviews; ``/v1/access-requests``: ask for access."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from approvals import Identity, Outcome, ReviewState
from gateway.api.auth import Caller, Context
from gateway.api.errors import ApiError
from gateway.api.schemas import AccessRequestIn, DecisionIn, ErrorOut, ReviewOut
from gateway.config import parse_duration

__all__ = ["router"]

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
    """Reviews the caller may see (approvers, owners, the requester's chain, auditors)."""
    reviews = await ctx.repository.list_reviews(state=state, connection=connection, limit=limit)
    return [ReviewOut.of(r) for r in reviews if ctx.may_see(who, r)]


@router.get("/reviews/{review_id}", responses=_ERRORS)
async def get_review(ctx: Context, who: Caller, review_id: str) -> ReviewOut:
    review = await ctx.repository.get_review(review_id)
    if review is None or not ctx.may_see(who, review):
        raise ApiError(404, "not_found", f"no review {review_id}")
    return ReviewOut.of(review)


@router.post("/reviews/{review_id}/decisions", responses=_ERRORS)
async def decide(ctx: Context, who: Caller, review_id: str, body: DecisionIn) -> ReviewOut:
    """Approve or deny; policy (approver, no self-approval, quorum, not final) is enforced.

    The chat bot records a click for the person who made it by naming them in ``approver``.
    """
    approver = who
    if body.approver is not None:
        if not ctx.is_bot(who):
            raise ApiError(403, "forbidden", "only the chat bot may decide for someone else")
        person = ctx.person(body.approver)
        if person is None:
            if "@" not in body.approver:
                raise ApiError(403, "unknown_person", f"{body.approver} is not a person's e-mail")
            # Not in [[people]]: no groups, so only approvers named in `identities` pass.
            person = Identity(subject=body.approver, email=body.approver)
        approver = person
    review = await ctx.service.decide(
        review_id, approver, Outcome(body.outcome), body.reason, break_glass=body.break_glass
    )
    ctx.metrics.decisions.labels(body.outcome).inc()
    return ReviewOut.of(review)


@router.post("/access-requests", status_code=201, responses=_ERRORS)
async def request_access(ctx: Context, who: Caller, body: AccessRequestIn) -> ReviewOut:
    """Ask for time-bounded access to a connection; approval creates a delegation."""
    try:
        duration = parse_duration(body.duration)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    review = await ctx.service.request_access(
        who, body.connection, role=body.role, duration=duration, reason=body.reason
    )
    return ReviewOut.of(review)


@router.get("/access-requests", responses=_ERRORS)
async def list_access_requests(
    ctx: Context, who: Caller, state: ReviewState | None = None
) -> list[ReviewOut]:
    """Access requests the caller may see."""
    reviews = await ctx.repository.list_reviews(state=state, limit=1000)
    return [ReviewOut.of(r) for r in reviews if r.kind.value == "access" and ctx.may_see(who, r)]
