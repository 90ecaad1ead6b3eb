"""What one PostgreSQL session shares between its two directions, and the gateway's deps."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from approvals import ApprovalService, Delegation, Identity
from gateway import pgwire as pg
from gateway.inspection import SessionState
from gateway.masking import CatalogNames, RowPlan
from gateway.metrics import Metrics
from gateway.postgres.lifecycle import SessionPhase
from gateway.postgres.lineage import Lineage
from gateway.postgres.statement_log import StatementLog
from gateway.postgres.statements import StatementBook
from gateway.postgres.target import Target
from gateway.postgres.tracker import Portal, ResponseTracker
from store import AuditWriter, SqlRepository

__all__ = ["Deps", "Portal", "Shared", "refusal_error"]


@dataclass(frozen=True)
class Deps:
    """The gateway-wide parts every session uses."""

    service: ApprovalService
    repository: SqlRepository
    audit: AuditWriter
    metrics: Metrics
    targets: dict[str, Target]
    tls: ssl.SSLContext | None
    allow_plaintext: bool


@dataclass
class Shared:
    """Per-session state: who, where, what is prepared, what is in flight."""

    id: str
    identity: Identity
    target: Target
    delegation: Delegation | None
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    state: SessionState = field(default_factory=SessionState)
    phase: SessionPhase = SessionPhase.STARTING  # the session's lifecycle (postgres.lifecycle)
    tracker: ResponseTracker = field(default_factory=ResponseTracker)
    book: StatementBook = field(default_factory=StatementBook)  # prepared statement names
    portals: dict[str, Portal] = field(default_factory=dict)
    query_plan: RowPlan | None = None
    statements_seen: int = 0
    held: int = 0
    refused: int = 0
    rows: int = 0
    bytes_out: int = 0
    masked_total: dict[str, int] = field(default_factory=dict)
    cancel_hold: asyncio.Event = field(default_factory=asyncio.Event)
    holding: str | None = None  # the review id ("" while it is being opened) of a held statement
    # (table OID, attribute number) -> real names of the columns masking rules name
    catalog: CatalogNames | None = None
    log: StatementLog | None = None  # set by the listener once the session is accepted
    lineage: Lineage | None = None  # set by the listener on a connection that masks


def refusal_error(sqlstate: str, message: str, detail: str | None = None) -> pg.ErrorResponse:
    return pg.ErrorResponse.build("ERROR", sqlstate, message, detail=detail)
