"""``/v1/sessions``: recorded gateway sessions and, for one, every statement it ran."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from approvals import Identity
from gateway.api.auth import Caller, Context
from gateway.api.context import ApiContext
from gateway.api.errors import ApiError
from gateway.api.schemas import ErrorOut
from gateway.sessions.statement_log import expand
from store import SessionRecord

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["sessions"])
_ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorOut}, 404: {"model": ErrorOut}}
MAX_STATEMENTS = 10_000


class SessionOut(BaseModel):
    id: str
    subject: str
    chain: list[str]
    connection: str
    client_addr: str | None
    started_at: datetime
    ended_at: datetime | None
    stats: dict[str, Any]

    @classmethod
    def of(cls, s: SessionRecord) -> SessionOut:
        return cls(
            id=s.id,
            subject=s.identity.subject,
            chain=list(s.identity.chain),
            connection=s.connection,
            client_addr=s.client_addr,
            started_at=s.started_at,
            ended_at=s.ended_at,
            stats=s.stats,
        )


class SessionDetail(SessionOut):
    statements: list[dict[str, Any]]


def _may_see(ctx: ApiContext, who: Identity, session: SessionRecord) -> bool:
    return (
        ctx.is_auditor(who)
        or session.identity.subject == who.subject
        or ctx.owns(who, session.connection)
    )


@router.get("/sessions", responses=_ERRORS)
async def list_sessions(
    ctx: Context,
    who: Caller,
    connection: str | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SessionOut]:
    """Newest first: one's own sessions; owners see their connections'; auditors see all."""
    subject = None if ctx.is_auditor(who) or connection else who.subject
    found = await ctx.repository.list_sessions(
        subject=subject, connection=connection, active=active, limit=limit
    )
    return [SessionOut.of(s) for s in found if _may_see(ctx, who, s)]


@router.get("/sessions/{session_id}", responses=_ERRORS)
async def get_session(ctx: Context, who: Caller, session_id: str) -> SessionDetail:
    """One session with every statement it ran, in order (from its audit events)."""
    session = await ctx.repository.get_session(session_id)
    if session is None or not _may_see(ctx, who, session):
        raise ApiError(404, "not_found", f"no session {session_id}")
    records = await ctx.repository.list_audit(target=session_id, limit=MAX_STATEMENTS)
    statements = [
        {**item, "at": item["at"].isoformat()}
        for record in records
        if record.action == "statements"
        for item in expand(record.details, record.at)
    ]
    statements.sort(key=lambda item: str(item["at"]))
    return SessionDetail(**SessionOut.of(session).model_dump(), statements=statements)


MAX_RECORDING_ROWS = 100_000


@router.get("/sessions/{session_id}/recording", responses=_ERRORS)
async def get_recording(
    ctx: Context, who: Caller, session_id: str, channel: Annotated[int, Query(ge=1)] = 1
) -> dict[str, Any]:
    """The asciicast v2 recording of a session's ``channel``-th interactive shell (SSH):
    ``{"header": {...}, "events": [[t, code, data], ...]}``, from its ``asciicast`` session
    event rows (docs/ssh.md, "What is recorded")."""
    session = await ctx.repository.get_session(session_id)
    if session is None or not _may_see(ctx, who, session):
        raise ApiError(404, "not_found", f"no session {session_id}")
    rows = await ctx.repository.list_session_events(session_id, limit=MAX_RECORDING_ROWS)
    header: dict[str, Any] | None = None
    events: list[Any] = []
    for row in rows:
        if row.kind != "asciicast" or row.details.get("channel") != channel:
            continue
        header = row.details.get("header", header)
        events += row.details.get("events", [])
    if header is None:
        raise ApiError(404, "not_found", f"session {session_id} has no recording {channel}")
    return {"header": header, "events": events}
