"""How many sessions a gateway process runs at once: in all, per identity, per connection.

::

    slot = limits.admit(identity, connection)   # LimitRefused past a cap (PostgreSQL 53300)
    ... the session runs ...
    slot.release()                              # idempotent; the slot is free again

Three caps, each checked before anything is opened upstream:

- ``max_sessions`` (``[gateway] max_sessions``): sessions of this process, every listener's;
- ``per_identity`` (``[gateway] max_sessions_per_identity``): sessions whose chain starts with
  the same subject. The key is the chain's *root* subject (``Identity.subject``): the person or
  service account the token was first issued to, so alice's sessions count against alice
  whether she connects herself or through ci-runner → sql-agent. An agent cannot escape the
  cap by adding a link, and one agent serving many people is not capped for all of them at
  once (each of them is);
- ``per_connection`` (a connection's own ``max_sessions``): sessions on one connection, below
  its upstream's ``max_connections``, so the upstream's refusal is never what a client gets.

``open`` feeds the metrics; ``by_identity`` and ``by_connection`` hold only keys
with a session open (an ended session leaves no entry behind).

The listener also bounds what it holds before a session is admitted (connections still in
their start-up, unauthenticated): :meth:`Limits.connection` gives ``2 * max_sessions`` of those;
past that a connection is refused as soon as its start-up packet is read, and closed, as
PostgreSQL does past about twice its connection slots ("sorry, too many clients already").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from approvals import Identity
from gateway.sessions.errors import LimitRefused

__all__ = ["Limits", "Slot", "Ticket"]

DEFAULT_MAX_SESSIONS = 1000
DEFAULT_PER_IDENTITY = 100


@dataclass(eq=False)
class Slot:
    """One admitted session's place under the caps; ``release`` gives it back (once)."""

    limits: Limits
    identity: str
    connection: str
    released: bool = field(default=False)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.limits._release(self)


@dataclass(eq=False)
class Ticket:
    """One accepted client connection (any state); ``release`` gives it back (once)."""

    limits: Limits
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.limits.connections -= 1


class Limits:
    """The caps of one process, shared by its listeners (see the module's docstring)."""

    def __init__(
        self,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        per_identity: int = DEFAULT_PER_IDENTITY,
        per_connection: Mapping[str, int] | None = None,
    ) -> None:
        if max_sessions < 1 or per_identity < 1:
            raise ValueError("session caps must be at least 1")
        self.max_sessions, self.per_identity = max_sessions, per_identity
        self.per_connection = dict(per_connection or {})
        self.max_connections = 2 * max_sessions  # accepted connections, start-ups included
        self.open = 0
        self.connections = 0
        self.by_identity: dict[str, int] = {}
        self.by_connection: dict[str, int] = {}

    def connection(self) -> Ticket | None:
        """A place for one more accepted connection, or None past ``2 * max_sessions``."""
        if self.connections >= self.max_connections:
            return None
        self.connections += 1
        return Ticket(self)

    def admit(self, identity: Identity, connection: str) -> Slot:
        """A place for one more session of ``identity`` on ``connection``; LimitRefused past a
        cap (the message names it, its value, and what to do)."""
        who = identity.subject
        if self.open >= self.max_sessions:
            raise LimitRefused(
                f"too many sessions on this gateway (max_sessions = {self.max_sessions}); "
                "try again later",
                rule="limits/max_sessions",
                cap=self.max_sessions,
            )
        if self.by_identity.get(who, 0) >= self.per_identity:
            raise LimitRefused(
                f"too many sessions for {who} (max_sessions_per_identity = {self.per_identity}, "
                "counted across every agent acting for it); close one first",
                rule="limits/per_identity",
                cap=self.per_identity,
            )
        cap = self.per_connection.get(connection)
        if cap is not None and self.by_connection.get(connection, 0) >= cap:
            raise LimitRefused(
                f"too many sessions on {connection} (its max_sessions = {cap}); try again later",
                rule="limits/per_connection",
                cap=cap,
            )
        self.open += 1
        self.by_identity[who] = self.by_identity.get(who, 0) + 1
        self.by_connection[connection] = self.by_connection.get(connection, 0) + 1
        return Slot(self, who, connection)

    def _release(self, slot: Slot) -> None:
        self.open -= 1
        _decrement(self.by_identity, slot.identity)
        _decrement(self.by_connection, slot.connection)


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
