"""Why the session core refuses a session, in words a listener turns into its protocol's error,
and why it cannot run at all.

::

    SessionsError
    ├── JournalError              the statement journal cannot be opened: the listeners do not
    │                             start (nothing may be forwarded unrecorded)
    └── SessionRefused            the session may not start (or go on); ``message`` says why
        ├── AuthRefused           the credential is not a valid token (PostgreSQL 28P01,
        │                         MySQL 1045, SSH: authentication fails)
        ├── AccessRefused         the identity may not use this connection, or its role is gone
        │                         (PostgreSQL 42501, MySQL 1044 / 1227)
        └── LimitRefused          too many sessions: in the process, of the identity, or on the
                                  connection (gateway.sessions.limits; PostgreSQL 53300,
                                  MySQL 1040 ER_CON_COUNT_ERROR)

A store that cannot record the session raises :class:`store.Unavailable` (PostgreSQL 57P03).
"""

from __future__ import annotations

__all__ = [
    "AccessRefused",
    "AuthRefused",
    "JournalError",
    "LimitRefused",
    "SessionRefused",
    "SessionsError",
]


class SessionsError(Exception):
    """The root of the session core's errors."""


class JournalError(SessionsError):
    """The statement journal's directory or first segment cannot be made or locked."""


class SessionRefused(SessionsError):
    """The session may not start or go on; ``message`` is what its client is told."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthRefused(SessionRefused):
    """The credential given at the start-up is not a token the gateway accepts."""


class AccessRefused(SessionRefused):
    """The identity (or a link of its chain) may not use the connection."""


class LimitRefused(SessionRefused):
    """Too many sessions: the new one is refused before anything is opened upstream.
    ``rule`` names the cap (``limits/max_sessions``, ``limits/per_identity``,
    ``limits/per_connection``), ``cap`` its value."""

    def __init__(self, message: str, *, rule: str, cap: int) -> None:
        super().__init__(message)
        self.rule, self.cap = rule, cap
