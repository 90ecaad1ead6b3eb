"""``/v1/audit``: the audit trail, for auditors; filter by identity, anyone in the chain,
connection and time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from approvals.subjects import canonical
from gateway.api.auth import Caller, Context
from gateway.api.errors import ApiError
from gateway.api.schemas import ErrorOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})
async def list_audit(
    ctx: Context,
    who: Caller,
    identity: str | None = None,
    actor: Annotated[str | None, Query(description="anyone anywhere in the actor chain")] = None,
    connection: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Audit events in order (page with ``after_seq``); auditors and admins only."""
    if not ctx.is_auditor(who):
        raise ApiError(403, "forbidden", "reading the audit trail needs an auditor group")
    records = await ctx.repository.list_audit(
        identity=canonical(identity) if identity is not None else None,
        actor_in_chain=canonical(actor) if actor is not None else None,
        connection=connection,
        since=_aware(since),
        until=_aware(until),
        limit=limit,
        after_seq=after_seq,
    )
    return [record.to_dict() for record in records]


def _aware(at: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC (the audit trail keeps UTC)."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
