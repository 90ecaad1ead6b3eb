"""ERR packet texts on a connection that masks (MySQL "Client/Server Protocol", ERR_Packet).

A value leaves in an error message: ``Duplicate entry '123-45-6789' for key 'PRIMARY'``,
``Incorrect integer value: 'ahi-af-bbcb' for column ...``, ``Truncated incorrect DOUBLE
value: '...'``. Which column it came from cannot be known, so, as for PostgreSQL's
ErrorResponse: what the client did not send itself (``sent``: the statement's text and its
bound values) is replaced by ``***``: from the first quoted span ('...', "..." or `...`) it
did not send to the message's last quote (a value may hold quotes itself), from a quote no span
closes to the end, and every token with a digit outside; then the value detectors run with the
bare forms of their entities enabled. The error code and SQLSTATE are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.masking import Detector, mask_text

__all__ = ["REDACTED", "redact_error"]

REDACTED = "***"
_QUOTED = re.compile(r"\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|`(?:[^`]|``)*`")
_LONE_QUOTE = re.compile("[\"'`]")
_DIGITS = re.compile(r"[\w.+\-:/@]*\d[\w.+\-:/@]*")
_CONTRACTION = re.compile(r"(?<=[A-Za-z]n)'(?=t\b)")  # doesn't, can't: not a quote
_KEEP = "\x00"


def _sent(value: str, known: str) -> bool:
    """Whether ``value`` (or each dotted part of it) occurs in ``known`` as a whole word."""
    if not value or not known:
        return False
    parts = value.split(".") if "." in value and not value.replace(".", "").isdigit() else [value]
    return all(
        part and re.search(rf"(?<![\w]){re.escape(part)}(?![\w])", known) is not None
        for part in parts
    )


def redact_error(message: str, sent: str, detectors: Sequence[Detector]) -> str:
    """``message`` with what the client did not send replaced, then the detectors."""

    def token(match: re.Match[str]) -> str:
        return match.group(0) if _sent(match.group(0), sent) else REDACTED

    message = _CONTRACTION.sub(_KEEP, message.replace(_KEEP, ""))
    parts: list[str] = []
    last = 0
    for match in _QUOTED.finditer(message):
        parts.append(_DIGITS.sub(token, message[last : match.start()]))
        quote = match.group(0)[0]
        if not _sent(match.group(0)[1:-1], sent):
            parts.append(f"{quote}{REDACTED}{quote}")
            last = max(message.rfind(q) for q in "\"'`") + 1
            last = max(last, match.end())
            break
        parts.append(match.group(0))
        last = match.end()
    rest = message[last:]
    lone = _LONE_QUOTE.search(rest)
    if lone is not None:
        parts.append(_DIGITS.sub(token, rest[: lone.start()]))
        parts.append(f"'{REDACTED}'")
    else:
        parts.append(_DIGITS.sub(token, rest))
    text = "".join(parts).replace(_KEEP, "'")
    if not detectors:
        return text
    masked, _ = mask_text(text, detectors, context=tuple(d.name for d in detectors))
    return masked
