"""The protocol-free session core: authenticate, authorize, hold, record, revoke and end, written
once for every listener (see :mod:`gateway.sessions.core` for the order a listener calls them),
and the connections they serve (:mod:`gateway.sessions.target`). Nothing here imports a
protocol package; import-linter holds it to that."""

from gateway.sessions.core import SessionCore
from gateway.sessions.errors import (
    AccessRefused,
    AuthRefused,
    JournalError,
    LimitRefused,
    SessionRefused,
    SessionsError,
)
from gateway.sessions.guard import SessionGuard
from gateway.sessions.hold import HOLD_BUFFER_LIMIT, STORE_RULE, ClientGone, Held, HoldOutcome
from gateway.sessions.journal import Journal, SessionJournal
from gateway.sessions.limits import Limits, Slot, Ticket
from gateway.sessions.peer import is_loopback
from gateway.sessions.replay import Replayed, replay
from gateway.sessions.session import Ending, Live, Session
from gateway.sessions.statement_log import FIELDS, StatementLog, expand
from gateway.sessions.target import Target, build_targets, unserved

__all__ = [
    "FIELDS",
    "HOLD_BUFFER_LIMIT",
    "STORE_RULE",
    "AccessRefused",
    "AuthRefused",
    "ClientGone",
    "Ending",
    "Held",
    "HoldOutcome",
    "Journal",
    "JournalError",
    "LimitRefused",
    "Limits",
    "Live",
    "Replayed",
    "Session",
    "SessionCore",
    "SessionGuard",
    "SessionJournal",
    "SessionRefused",
    "SessionsError",
    "Slot",
    "StatementLog",
    "Target",
    "Ticket",
    "build_targets",
    "expand",
    "is_loopback",
    "replay",
    "unserved",
]
