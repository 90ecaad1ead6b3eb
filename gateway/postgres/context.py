"""What one PostgreSQL session shares between its two directions, and the gateway's deps."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from approvals import ApprovalService, Delegation, Identity
from gateway import pgwire as pg
from gateway.inspection import SessionState
from gateway.masking import MaskTally, RowPlan
from gateway.metrics import Metrics
from gateway.postgres.target import Target
from gateway.postgres.tracker import ResponseTracker
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
class Portal:
    statement: str
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]
    plan: RowPlan | None = None


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
    tracker: ResponseTracker = field(default_factory=ResponseTracker)
    # statement name -> (text, verdict action, rule); portal name -> Portal
    statements: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)
    # statement name -> RowDescription fields from Describe('S')
    described: dict[str, tuple[pg.FieldDescription, ...]] = field(default_factory=dict)
    query_plan: RowPlan | None = None
    tally: MaskTally = field(default_factory=MaskTally)
    statements_seen: int = 0
    held: int = 0
    refused: int = 0
    rows: int = 0
    bytes_out: int = 0
    masked_total: dict[str, int] = field(default_factory=dict)
    cancel_hold: asyncio.Event = field(default_factory=asyncio.Event)
    holding: str | None = None


def refusal_error(sqlstate: str, message: str, detail: str | None = None) -> pg.ErrorResponse:
    return pg.ErrorResponse.build("ERROR", sqlstate, message, detail=detail)
