"""The ``/access`` command language, parsed strictly (pure; no chat, no I/O)::

    /access request <connection> [as <role>] for <duration> because <reason>
    /access list
    /access status <review-or-grant-id>
    /access revoke <grant-id> [because <reason>]
    /access help

A ``request`` with parts missing parses to an incomplete :class:`RequestAccess` (the chat asks
for the rest in a form); anything malformed — an unknown word, a duration that is not one, parts
out of order — parses to :class:`Help` naming the problem. Nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "USAGE",
    "AccessCommand",
    "Help",
    "ListAccess",
    "RequestAccess",
    "Revoke",
    "Status",
    "is_duration",
    "parse_access",
]

USAGE = (
    "`/access request <connection> [as <role>] for <duration> because <reason>` — ask for access\n"
    "`/access list` — your grants and your pending requests\n"
    "`/access status <id>` — where a review or a grant stands\n"
    "`/access revoke <grant-id> [because <reason>]` — give a grant back (or, as an owner, end it)\n"
    "`/access help` — this text"
)

_DURATION = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")
_KEYWORD = r"(?:as|for|because)\b"
_REQUEST = re.compile(
    rf"request(?:\s+(?P<connection>(?!{_KEYWORD})\S+))?"
    r"(?:\s+as\s+(?P<role>\S+))?"
    r"(?:\s+for\s+(?P<duration>\S+))?"
    r"(?:\s+because\s+(?P<reason>\S.*))?",
    re.DOTALL | re.IGNORECASE,
)
_REVOKE = re.compile(r"revoke\s+(?P<id>\S+)(?:\s+because\s+(?P<reason>\S.*))?", re.DOTALL)
_STATUS = re.compile(r"status\s+(?P<id>\S+)")


@dataclass(frozen=True, slots=True)
class RequestAccess:
    connection: str | None = None
    role: str | None = None
    duration: str | None = None
    reason: str | None = None

    @property
    def complete(self) -> bool:
        return bool(self.connection and self.duration and self.reason)


@dataclass(frozen=True, slots=True)
class ListAccess:
    pass


@dataclass(frozen=True, slots=True)
class Status:
    id: str


@dataclass(frozen=True, slots=True)
class Revoke:
    id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    problem: str | None = None


AccessCommand = RequestAccess | ListAccess | Status | Revoke | Help


def is_duration(text: str) -> bool:
    """``30m``, ``2h``, ``1d``, ``1h30m`` (the units the gateway accepts)."""
    return _DURATION.fullmatch(text.strip()) is not None


def parse_access(text: str) -> AccessCommand:
    """Parse what follows ``/access``."""
    text = text.strip()
    verb = text.split(maxsplit=1)[0].lower() if text else "help"
    if verb == "help":
        return Help() if text.lower() in ("", "help") else Help("`help` takes no arguments")
    if verb == "list":
        return ListAccess() if text.lower() == "list" else Help("`list` takes no arguments")
    if verb == "request":
        return _request(text)
    if verb == "revoke":
        match = _REVOKE.fullmatch(text)
        if match is None:
            return Help("say which grant: `/access revoke <grant-id> [because <reason>]`")
        return Revoke(match["id"], _text(match["reason"]))
    if verb == "status":
        match = _STATUS.fullmatch(text)
        if match is None:
            return Help("say which one: `/access status <id>`")
        return Status(match["id"])
    return Help(f"unknown command `{verb[:40]}`")


def _request(text: str) -> AccessCommand:
    match = _REQUEST.fullmatch(text)
    if match is None:
        return Help(
            "could not read that request; the order is "
            "`request <connection> [as <role>] for <duration> because <reason>`"
        )
    duration = match["duration"]
    if duration is not None and not is_duration(duration):
        return Help(f"`{duration[:40]}` is not a duration (try 30m, 2h or 1d)")
    return RequestAccess(match["connection"], match["role"], duration, _text(match["reason"]))


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None
