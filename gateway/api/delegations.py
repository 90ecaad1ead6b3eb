"""``/v1/delegations``: who holds access to what; revoke."""

from __future__ import annotations

from fastapi import APIRouter

from approvals.subjects import canonical
from gateway.api.auth import Caller, Context
from gateway.api.errors import ApiError
from gateway.api.reviews import acting_for
from gateway.api.schemas import DelegationOut, ErrorOut, RevokeIn

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["delegations"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}


@router.get("/delegations", responses=_ERRORS)
async def list_delegations(
    ctx: Context,
    who: Caller,
    subject: str | None = None,
    connection: str | None = None,
    active: bool = False,
) -> list[DelegationOut]:
    """One's own delegations; owners see their connections'; auditors see all."""
    now = ctx.clock.now()
    found = await ctx.repository.list_delegations(
        subject=canonical(subject) if subject is not None else None,
        connection=connection,
        active_at=now if active else None,
    )
    return [
        DelegationOut.of(d, now)
        for d in found
        if d.subject == who.subject or ctx.is_auditor(who) or ctx.owns(who, d.connection)
    ]


@router.post("/delegations/{delegation_id}/revoke", responses=_ERRORS)
async def revoke(ctx: Context, who: Caller, delegation_id: str, body: RevokeIn) -> DelegationOut:
    """The holder, the connection's owners and admins may revoke a delegation (the chat bot
    names the person revoking in ``revoker``)."""
    who = acting_for(ctx, who, body.revoker, "revoke")
    now = ctx.clock.now()
    held = await ctx.repository.get_delegation(delegation_id)
    if held is None:
        raise ApiError(404, "not_found", f"no delegation {delegation_id}")
    if not (held.subject == who.subject or ctx.is_admin(who) or ctx.owns(who, held.connection)):
        raise ApiError(403, "forbidden", "only the holder, an owner or an admin may revoke")
    revoked = await ctx.service.revoke_delegation(delegation_id, who, body.reason)
    return DelegationOut.of(revoked, now)
