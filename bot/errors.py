"""Errors of the chat bot's edges::

    BotError
    ├── ApiRefused        the gateway's HTTP API refused a call: its status, ``code`` and message
    ├── ApiUnavailable    the gateway's HTTP API could not be reached
    ├── ChatError         the chat provider refused a call (its error code, e.g. channel_not_found);
    │   │                 ``permanent``: the provider's client judged that no retry can change
    │   │                 the answer (each provider classifies its own codes at the boundary)
    │   └── RateLimited   HTTP 429: try again after ``retry_after`` seconds
    ├── InboundRefused    a request claiming to come from the chat provider failed its checks;
    │                     ``status``: 401 no bearer token, 403 a token not accepted, 503 the
    │                     provider's signing keys could not be read. Nothing was done.
    └── UnknownPerson     a chat user maps to no person, or to several (refused, never guessed)

Foreign exceptions (httpx, slack_sdk) become one of these at the boundary (``raise ... from``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiRefused",
    "ApiUnavailable",
    "BotError",
    "ChatError",
    "InboundRefused",
    "RateLimited",
    "UnknownPerson",
    "refusal",
]

# What a person is told first when their chat action was refused (by the API's stable code).
_LEADS = {
    "self_approval": "You cannot decide your own request.",
    "not_an_approver": "You are not an approver here.",
    "already_decided": "Too late: this review is already decided.",
    "review_expired": "Too late: this review expired.",
    "already_voted": "You have already voted on this review.",
    "reason_required": "A reason is needed.",
    "not_found": "Airlock does not know that id.",
    "unknown_person": "Airlock does not know who you are.",
}


class BotError(Exception):
    code = "bot_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiRefused(BotError):
    """The gateway answered with an error; ``code`` is the API's stable JSON ``code``."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


class ApiUnavailable(BotError):
    code = "unreachable"


class ChatError(BotError):
    def __init__(self, message: str, code: str = "chat_error", *, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


class RateLimited(ChatError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:g}s", "ratelimited")
        self.retry_after = retry_after


class InboundRefused(BotError):
    """``message`` says why (for the log; the caller only gets the status)."""

    code = "inbound_refused"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UnknownPerson(BotError):
    code = "unknown_person"


def refusal(exc: BotError) -> tuple[str, str]:
    """(code, lead sentence) of a refused chat action, for every provider's explanation."""
    code = exc.code if isinstance(exc, ApiRefused | UnknownPerson) else "unavailable"
    return code, _LEADS.get(code, "Nothing was changed.")
