"""``/v1/access-reviews``: who holds what (the weekly digest's lines) with each line's
recertification history; and the owners' Keep / Revoke decisions on a digest.

Owners see the connections they own, auditors (and admins) every connection. A decision is one
call for one line (``keep``, ``revoke``) or for a whole digest (``keep_all``, ``revoke_unused``),
made by an owner of the line's connection or an admin; the chat bot names the person clicking in
``decider``. Lines already decided (or ended) are refused (409) or, in bulk, left out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from approvals import Connection, Identity
from approvals.access_review import (
    AccessEntry,
    Digest,
    EntryKind,
    LineState,
    LineStatus,
    ReviewEvent,
    sort_entries,
)
from approvals.lifecycle import GrantLifecycle, LineDecision
from approvals.subjects import canonical
from gateway.api.auth import Caller, Context
from gateway.api.context import ApiContext
from gateway.api.errors import ApiError
from gateway.api.reviews import acting_for
from gateway.api.schemas import ErrorOut
from store import AccessReviews, Database, DigestStore

__all__ = ["CSV_COLUMNS", "access_report", "owned_by", "report_csv", "router"]

router = APIRouter(prefix="/v1", tags=["access reviews"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}
CSV_COLUMNS = (
    "connection", "kind", "holder", "role", "granted_by", "since", "expires_at", "last_used_at",
    "uses", "unused", "chains", "recertified_at", "recertified_by", "history",
)  # fmt: skip


def owned_by(connections: Mapping[str, Connection], owner: str) -> dict[str, Connection]:
    """The connections ``owner`` (an owner identity in any spelling, or an owners' channel)
    owns."""
    return {
        name: c
        for name, c in connections.items()
        if canonical(owner) in c.owners.identities
        or (c.owners.channel is not None and owner == c.owners.channel)
    }


async def access_report(
    database: Database,
    connections: Mapping[str, Connection],
    now: datetime,
    unused_after: timedelta,
) -> list[dict[str, Any]]:
    """Every live grant and standing group of ``connections`` with its history, as JSON rows."""
    reviews = AccessReviews(database)
    entries = sort_entries(await reviews.entries(connections, now), now, unused_after)
    history: dict[str, list[ReviewEvent]] = {}
    for event in await reviews.history(connections=list(connections)):
        history.setdefault(event.key, []).append(event)
    return [_row(e, history.get(e.key, []), now, unused_after) for e in entries]


def _time(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _row(
    entry: AccessEntry, history: list[ReviewEvent], now: datetime, unused_after: timedelta
) -> dict[str, Any]:
    kept = [e for e in history if e.action.endswith(".recertified")]
    return {
        "connection": entry.connection,
        "kind": entry.kind.value,
        "key": entry.key,
        "holder": entry.holder,
        "role": entry.role,
        "granted_by": entry.granted_by,
        "reason": entry.reason,
        "since": _time(entry.since),
        "expires_at": _time(entry.expires_at),
        "last_used_at": _time(entry.last_used_at),
        "uses": entry.uses,
        "unused": entry.unused(now, unused_after),
        "chains": list(entry.chains),
        "recertified_at": _time(kept[-1].at if kept else entry.recertified_at),
        "recertified_by": kept[-1].by if kept else None,
        "history": [_event(e) for e in history],
    }


def _event(event: ReviewEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "by": event.by,
        "at": event.at.isoformat(),
        "reason": event.reason,
        "digest": event.digest,
    }


def report_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The report as CSV: one row per line; chains and history joined with "; "."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        flat = dict(row)
        flat["chains"] = "; ".join(row["chains"])
        flat["history"] = "; ".join(
            f"{h['action']} by {h['by'] or '-'} at {h['at']}" for h in row["history"]
        )
        writer.writerow(["" if flat[c] is None else flat[c] for c in CSV_COLUMNS])
    return out.getvalue()


# -- routes -------------------------------------------------------------------------------


class AccessReviewOut(BaseModel):
    generated_at: datetime
    unused_after_days: float
    lines: list[dict[str, Any]]


@router.get("/access-reviews", responses=_ERRORS)
async def list_access_reviews(
    ctx: Context, who: Caller, owner: str | None = None, connection: str | None = None
) -> AccessReviewOut:
    """Who holds what on the caller's connections (auditors: every connection, or ``owner``'s),
    with last use, actor chains seen and the recertification history of each line."""
    connections = dict(ctx.service.connections)
    if not ctx.is_auditor(who):
        if owner is not None and canonical(owner) != who.subject:
            raise ApiError(403, "forbidden", "only auditors may read another owner's review")
        # The owner power, asked the one way (an agent acting for an owner holds none).
        connections = {name: c for name, c in connections.items() if ctx.owns(who, name)}
        if not connections:
            raise ApiError(403, "forbidden", "only owners and auditors read access reviews")
    elif owner is not None:
        connections = owned_by(connections, owner)
    if connection is not None:
        connections = {k: v for k, v in connections.items() if k == connection}
    now = ctx.service.clock.now()
    window = ctx.settings.scheduler.unused_after
    rows = await access_report(ctx.database, connections, now, window)
    return AccessReviewOut(
        generated_at=now, unused_after_days=window.total_seconds() / 86400, lines=rows
    )


class DigestDecisionIn(BaseModel):
    digest: str = Field(min_length=1, max_length=1000)
    action: Literal["keep", "revoke", "keep_all", "revoke_unused"]
    line: str | None = Field(default=None, max_length=1000)
    decider: str | None = Field(
        default=None,
        description="for the chat bot only: the e-mail of the person deciding (a [[people]] "
        "entry); the caller must be in one of [api] bot_groups",
    )


class DigestDecisionOut(BaseModel):
    digest: str
    done: list[dict[str, str]]


@router.post("/access-reviews/decisions", responses=_ERRORS)
async def decide(ctx: Context, who: Caller, body: DigestDecisionIn) -> DigestDecisionOut:
    """Keep or revoke a digest line, or every open line (``keep_all``), or every open unused
    grant (``revoke_unused``); recorded as recertifications / revocations, and redrawn."""
    who = acting_for(ctx, who, body.decider, "decide in an access review")
    store = DigestStore(ctx.repository)
    digest = await store.get(body.digest)
    if digest is None:
        raise ApiError(404, "not_found", f"no digest {body.digest}")
    now = ctx.service.clock.now()
    statuses = await store.statuses(digest, now)
    decisions = _chosen(ctx, who, digest, statuses, body)
    lifecycle = GrantLifecycle(ctx.repository, ctx.service.clock, ctx.service.connections)
    done = await lifecycle.decide(digest.id, decisions, who)
    if not done:
        raise ApiError(409, "already_decided", "those lines were already decided or have ended")
    return DigestDecisionOut(
        digest=digest.id, done=[{"line": key, "outcome": what} for key, what in done]
    )


def _may(ctx: ApiContext, who: Identity, entry: AccessEntry) -> bool:
    return ctx.is_admin(who) or ctx.owns(who, entry.connection)


def _chosen(
    ctx: ApiContext,
    who: Identity,
    digest: Digest,
    statuses: Mapping[str, LineStatus],
    body: DigestDecisionIn,
) -> list[LineDecision]:
    if body.action in ("keep", "revoke"):
        entry = digest.entry(body.line or "")
        if entry is None:
            raise ApiError(404, "not_found", f"digest {digest.id} has no line {body.line}")
        if not _may(ctx, who, entry):
            raise ApiError(403, "forbidden", f"only owners of {entry.connection} decide it")
        status = statuses.get(entry.key)
        if status is not None and status.state is not LineState.OPEN:
            by = f" by {status.by}" if status.by else ""
            raise ApiError(409, "already_decided", f"that line is already {status.state}{by}")
        return [LineDecision(entry, body.action)]
    verdict = "keep" if body.action == "keep_all" else "revoke"
    chosen = [
        LineDecision(e, verdict)
        for e in digest.entries
        if statuses.get(e.key) is None
        and _may(ctx, who, e)
        and (verdict == "keep" or (e.kind is EntryKind.GRANT and digest.unused(e)))
    ]
    if not chosen and not any(_may(ctx, who, e) for e in digest.entries):
        raise ApiError(403, "forbidden", "only the owners of these connections decide them")
    return chosen
