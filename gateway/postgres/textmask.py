"""Masking of what a server sends besides rows: errors, notices, notifications, settings.

A value can leave in an error message (``SELECT translate(ssn, '0123456789', 'abcdefghij')::int``
fails with ``invalid input syntax for type integer: "ahi-af-bbcb"``, which no detector
recognises), in an error's DETAIL (``Failing row contains (...)``, ``Key (ssn)=(...) already
exists``), in its CONTEXT (``JSON data, line 1: ...``), in a NOTIFY payload or in a
ParameterStatus. Which column a value in those texts came from cannot be known, so on a
connection that masks:

- ErrorResponse and NoticeResponse (docs 55.8, "Error and Notice Message Fields"): the message
  (M) and hint (H) keep their words, but what the client did not send itself (the statement's
  text and its bound values) is replaced by ``***``: from the first quoted span ("..." or
  '...') it did not send to the message's last quote (a value may hold quotes itself), from a
  quote no span closes to the end, and every token with a digit outside; then the value
  detectors run with the bare forms of their entities enabled. A message raised by code in
  the database (its CONTEXT names a PL/pgSQL or SQL function, or a SQL statement inside one)
  is withheld whole: ``RAISE`` formats values any way it likes. DETAIL (D), CONTEXT (W) and
  the internal query (q) are withheld whole. Severity, SQLSTATE, position and the
  schema/table/column/type/constraint names are kept: the client still knows what failed and
  where.
- NotificationResponse: the payload is withheld (the channel is kept, so LISTEN still tells that
  something happened): a trigger or another session may have built it from a masked column.
- ParameterStatus: the value goes through the value detectors.

Errors are rare: this costs nothing on the data path.
"""

from __future__ import annotations

import re

from gateway.masking import DETECTORS, mask_text
from gateway.postgres import wire as pg
from gateway.postgres.dialect import MaskingPolicy

__all__ = ["FROM_CODE", "REDACTED", "WITHHELD", "TextMask"]

WITHHELD = "withheld by Airlock: results on this connection are masked"
REDACTED = "***"
# Fields whose words are kept (their values redacted), and fields withheld whole (docs 55.8).
_REDACTED_FIELDS = ("M", "H")
_WITHHELD_FIELDS = ("D", "W", "q")
# A message written by code in the database (RAISE in a function or trigger) has any shape,
# so it is withheld whole; its CONTEXT says where it was raised (docs 55.8, field W).
_FROM_CODE = re.compile(r"PL/pgSQL function|SQL function|SQL statement")
FROM_CODE = "message withheld by Airlock: raised by code in the database on a masked connection"
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
_LONE_QUOTE = re.compile("[\"']")
_DIGITS = re.compile(r"[\w.+\-:/@]*\d[\w.+\-:/@]*")


class TextMask:
    def __init__(self, policy: MaskingPolicy) -> None:
        self.detectors = tuple(DETECTORS[name] for name in policy.detectors)
        self.context = tuple(d.name for d in self.detectors)

    def text(self, value: str) -> str:
        """``value`` with what the detectors find masked."""
        if not self.detectors:
            return value
        masked, _ = mask_text(value, self.detectors, context=self.context)
        return masked

    def redact(self, value: str, known: str = "") -> str:
        """``value`` with what the client did not send (``known``) replaced: from the first
        quoted span it did not send to the message's last quote (a value may itself hold
        quotes: ``"ahi"af"bbcb"``), and every token with a digit outside; then the
        detectors."""

        def token(match: re.Match[str]) -> str:
            return match.group(0) if _sent(match.group(0), known) else REDACTED

        parts = []
        last = 0
        for match in _QUOTED.finditer(value):  # quoted spans the client sent stay
            parts.append(_DIGITS.sub(token, value[last : match.start()]))
            if not _sent(match.group(0)[1:-1], known):
                parts.append(f'"{REDACTED}"')
                last = max(value.rfind('"'), value.rfind("'"), match.end() - 1) + 1
                break
            parts.append(match.group(0))
            last = match.end()
        rest = value[last:]
        lone = _LONE_QUOTE.search(rest)  # a quote no span closes: what follows is a value
        if lone is not None:
            parts.append(_DIGITS.sub(token, rest[: lone.start()]))
            parts.append(f'"{REDACTED}"')
        else:
            parts.append(_DIGITS.sub(token, rest))
        return self.text("".join(parts))

    def message(
        self,
        message: pg.ErrorResponse | pg.NoticeResponse | pg.NotificationResponse,
        raw: memoryview,
        known: str = "",
    ) -> bytes | memoryview:
        """The message to forward: ``raw`` when nothing changed, else re-encoded. ``known``:
        the text and values of the statement it answers, which the client sent itself."""
        if isinstance(message, pg.NotificationResponse):
            if not message.payload:
                return raw
            return pg.encode(pg.NotificationResponse(message.process_id, message.channel, ""))
        fields = dict(message.fields)
        from_code = _FROM_CODE.search(fields.get("W", "")) is not None
        for key in _REDACTED_FIELDS:
            if key in fields:
                fields[key] = FROM_CODE if from_code else self.redact(fields[key], known)
        for key in _WITHHELD_FIELDS:
            if key in fields:
                fields[key] = WITHHELD
        if fields == message.fields:
            return raw
        return pg.encode(type(message)(fields))


def _sent(value: str, known: str) -> bool:
    """Whether ``value`` occurs in ``known`` as a whole (not inside a longer word)."""
    if not value or not known:
        return False
    pattern = rf"(?<![\w]){re.escape(value)}(?![\w])"
    return re.search(pattern, known) is not None
