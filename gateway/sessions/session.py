"""One session as the core sees it, whatever its protocol: who, where, what it did so far.

A listener's own per-session record extends :class:`Session` with its protocol's state (the
PostgreSQL listener's ``Shared``), so the core's parts (the hold, the statement log, the guard,
the session's row in the store) read and count the same fields for every protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from approvals import Delegation, Identity
from gateway.sessions.statement_log import StatementLog

__all__ = ["Ending", "Live", "Session"]


class Ending(StrEnum):
    """Why the gateway ends a session from outside; the value is the outcome on its record."""

    REVOKED = "revoked"  # its identity, a link of its chain, a token or its delegation
    EXPIRED = "expired"  # the delegation it rests on ran out
    SHUTDOWN = "shutdown"  # the gateway is stopping


@dataclass(kw_only=True)
class Session:
    """What every protocol's session holds for the core (a listener's record extends it)."""

    id: str
    identity: Identity
    connection: str
    delegation: Delegation | None
    log: StatementLog | None = None  # set once the session is accepted
    statements_seen: int = 0
    held: int = 0
    refused: int = 0
    rows: int = 0
    bytes_out: int = 0
    masked_total: dict[str, int] = field(default_factory=dict)
    # A held statement: the review id ("" while it is being opened), and the event a cancel
    # from the client (PostgreSQL CancelRequest, MySQL KILL QUERY, ...) sets.
    holding: str | None = None
    cancel_hold: asyncio.Event = field(default_factory=asyncio.Event)
    # Why the gateway ended it from outside (``Live.end`` sets it): a review it held is
    # cancelled saying so (a session that ended otherwise cancels it as its requester).
    ending: Ending | None = None

    @property
    def role(self) -> str | None:
        """The role the session's delegation grants (it picks the upstream credential)."""
        return self.delegation.role if self.delegation is not None else None


class Live(Protocol):
    """A running session the core may end from outside (revocation, expiry, shutdown)."""

    @property
    def session(self) -> Session: ...

    def end(self, why: Ending, message: str) -> None:
        """End the session, telling its client ``message`` in the protocol's own words; sets
        ``session.ending`` to ``why`` first."""
