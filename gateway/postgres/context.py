"""What one PostgreSQL session shares between its two directions, and the gateway's deps."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from gateway.postgres import wire as pg
from gateway.postgres.dialect import CatalogNames, PgTarget, RowPlan, SessionState
from gateway.postgres.dialect.leaks import Leaks
from gateway.postgres.dialect.lineage import Lineage
from gateway.postgres.lifecycle import SessionPhase
from gateway.postgres.statements import StatementBook
from gateway.postgres.tracker import Portal, ResponseTracker
from gateway.sessions import Session, SessionCore

__all__ = ["Deps", "Portal", "Shared", "refusal_error"]


@dataclass(frozen=True)
class Deps:
    """The gateway-wide parts every PostgreSQL session uses: the protocol-free session core, the
    connections it serves, and the listener's TLS settings."""

    core: SessionCore  # the service, store, audit writer and metrics are the core's
    targets: dict[str, PgTarget]
    tls: ssl.SSLContext | None
    allow_plaintext: bool


@dataclass(kw_only=True)
class Shared(Session):
    """Per-session state: the core's (who, where, the tally, a hold: :class:`Session`) and the
    PostgreSQL session's own: what is prepared, what is in flight."""

    target: PgTarget
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    state: SessionState = field(default_factory=SessionState)
    phase: SessionPhase = SessionPhase.STARTING  # the session's lifecycle (postgres.lifecycle)
    tracker: ResponseTracker = field(default_factory=ResponseTracker)
    book: StatementBook = field(default_factory=StatementBook)  # prepared statement names
    portals: dict[str, Portal] = field(default_factory=dict)
    query_plan: RowPlan | None = None
    # (table OID, attribute number) -> real names of the columns masking rules name
    catalog: CatalogNames | None = None
    lineage: Lineage | None = None  # set by the listener on a connection that masks
    leaks: Leaks | None = None  # routes around masking, found per text (client_side)


def refusal_error(sqlstate: str, message: str, detail: str | None = None) -> pg.ErrorResponse:
    return pg.ErrorResponse.build("ERROR", sqlstate, message, detail=detail)
