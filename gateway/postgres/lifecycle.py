"""A PostgreSQL session's lifecycle: one Enum of phases, one Enum of inputs, one table.

(Not ``SessionState``: that name is the SQL session's facts statements are classified in,
``gateway.postgres.dialect.SessionState``, kept in ``Shared.state``. The phase is ``Shared.phase``.)

Rules:

- A session starts ``STARTING``: accepted, its relay not running yet. ``START`` (the relay
  runs) makes it ``RELAYING``: both directions are processed as they arrive, and only then may
  the fast lane take a request.
- ``WAIT``: a statement must be waited for (held for review, or one whose session-state effects
  what follows is classified in); the client's further messages are buffered, not processed,
  until ``RESUME`` makes it ``RELAYING`` again. Only a relaying session starts to wait.
- ``TERMINATE``: the client's Terminate message. The client side reads nothing after it and
  the session ends (the relay stops at once; Terminate was forwarded, so the server is not
  sent another). The phase remembers it through the end: ``TERMINATED``, which a later
  ``STOP`` or ``RESUME`` does not leave.
- ``STOP``: the session ends, for the first reason the relay was given (the client left or
  said Terminate, the server left, a protocol violation, the gateway's own end: revocation,
  expiry, shutdown). ``ENDING``: the client's bytes are no longer read; the server's last
  answers still are, so their statements are recorded. ``LiveSession.end`` before the relay
  runs stops a ``STARTING`` session: it is ``ENDING`` when it starts, and relays nothing.
- ``CLOSE``: nothing more is processed, in either direction (``CLOSED``). The relay closes
  after the end (when the server's end or the FATAL needs no more of it, and when ``run``
  returns) and, should its task be cancelled, from any phase it runs in. The client side
  reads no message once ``TERMINATED`` or ``CLOSED`` (ClientSide.step); it still accounts for
  the fast lane's last request (ClientSide.replay), which is never a Terminate.
- A statement being waited for may finish after the session stopped or closed: ``RESUME``
  then leaves the phase as it is; so do a late ``STOP`` (a connection lost after the end) and
  a repeated ``CLOSE``.

A (phase, input) pair with no entry in ``TRANSITIONS`` raises :class:`LifecycleError`: a bug
in the relay, which ends the session (``Relay.received`` reports it like any other error).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

__all__ = [
    "NOT_READING_CLIENT",
    "TRANSITIONS",
    "LifecycleError",
    "SessionInput",
    "SessionPhase",
    "transition",
]


class LifecycleError(RuntimeError):
    """An input the session's phase has no entry for (a bug): the session ends."""


class SessionPhase(Enum):
    """Where a session is in its life (``Shared.phase``)."""

    STARTING = auto()  # accepted; the relay is not running yet
    RELAYING = auto()  # both directions processed as they arrive; the fast lane may run
    WAITING = auto()  # a statement is waited for; the client's messages are buffered
    TERMINATED = auto()  # the client sent Terminate: nothing more is read from it; ending
    ENDING = auto()  # stopped: the client is not read; the server's last answers still are
    CLOSED = auto()  # nothing more is processed


class SessionInput(Enum):
    """What moves a session: the relay's own steps, the client's Terminate, an end."""

    START = auto()  # Relay.run began
    WAIT = auto()  # a statement must be waited for (Relay._drive)
    RESUME = auto()  # the statement waited for is done (Relay._resume, _resumed)
    TERMINATE = auto()  # the client's Terminate message (ClientSide)
    STOP = auto()  # the session ends (Relay.stop, LiveSession.end)
    CLOSE = auto()  # nothing more is processed (Relay.run, _finish)


P = SessionPhase
I = SessionInput  # noqa: E741

TRANSITIONS: Final[dict[SessionPhase, dict[SessionInput, SessionPhase]]] = {
    P.STARTING: {I.START: P.RELAYING, I.STOP: P.ENDING},
    P.RELAYING: {
        I.WAIT: P.WAITING,
        I.TERMINATE: P.TERMINATED,
        I.STOP: P.ENDING,
        I.CLOSE: P.CLOSED,
    },
    P.WAITING: {
        I.RESUME: P.RELAYING,
        I.TERMINATE: P.TERMINATED,
        I.STOP: P.ENDING,
        I.CLOSE: P.CLOSED,
    },
    P.TERMINATED: {
        I.RESUME: P.TERMINATED,
        I.STOP: P.TERMINATED,
        I.CLOSE: P.CLOSED,
    },
    P.ENDING: {
        I.START: P.ENDING,
        I.RESUME: P.ENDING,
        I.TERMINATE: P.TERMINATED,
        I.STOP: P.ENDING,
        I.CLOSE: P.CLOSED,
    },
    P.CLOSED: {I.RESUME: P.CLOSED, I.STOP: P.CLOSED, I.CLOSE: P.CLOSED},
}

# Phases in which the client's bytes are dropped unread (the server's still are, until CLOSED).
NOT_READING_CLIENT: Final = frozenset({P.TERMINATED, P.ENDING, P.CLOSED})


def transition(phase: SessionPhase, event: SessionInput) -> SessionPhase:
    """The phase after ``event``; raise LifecycleError if the table has no entry."""
    try:
        return TRANSITIONS[phase][event]
    except KeyError:
        raise LifecycleError(f"{event.name} is not allowed in phase {phase.name}") from None
