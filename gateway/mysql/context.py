"""What one MySQL session holds, and the gateway-wide parts every session uses."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.guardrails import Kind
from gateway.sessions import Session, SessionCore, Target

__all__ = ["EFFECT_KINDS", "Deps", "MySession"]

# The kinds of the statements that change the session state classification reads (USE, SET
# sql_mode, PREPARE, DEALLOCATE are SESSION; the dialect gives effects to no other kind but
# CONFIG and what it cannot read): only after these is the text read again (``state.after``
# classifies it: ~0.3 ms), never after a plain read or write.
EFFECT_KINDS = frozenset({Kind.SESSION, Kind.CONFIG, Kind.UNKNOWN})


@dataclass(frozen=True)
class Deps:
    """The session core, the connections served (type mysql) and the listener's TLS rules."""

    core: SessionCore
    targets: dict[str, Target[Any, Any]]
    tls: ssl.SSLContext | None
    allow_plaintext: bool
    state: Callable[[], Any]  # a fresh session's dialect state (the dialect's state_type)
    # The thread a KILL text names (the dialect's kill_target: .thread_id, .query_only), or
    # None when the text is no KILL; None here: KILL texts are only the rules' business.
    kill_target: Callable[[str, Any], Any] | None = None


@dataclass(kw_only=True)
class MySession(Session):
    """The core's session (who, where, the tally, a hold) and the MySQL session's own: the
    gateway's connection id (``thread_id``), the upstream's, and the dialect's state."""

    target: Target[Any, Any]
    thread_id: int
    upstream_id: int = 0
    state: Any = None  # the dialect's session state (MySQLState)
    database: str = ""  # the upstream database in use
