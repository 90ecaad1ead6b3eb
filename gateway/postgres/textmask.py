"""Masking of the free text a server sends besides rows: errors, notices, notifications.

A value can leave in an error message (``SELECT ssn::int FROM t`` fails with ``invalid input
syntax for type integer: "078-05-1121"``), in an error's DETAIL (``Failing row contains (...)``,
``Key (ssn)=(...) already exists``) or in a NOTIFY payload (``SELECT pg_notify('c', ssn)``).
On a connection that masks, every detector runs over those texts with the bare forms of its
entity enabled (a false positive in an error text costs little), and DETAIL, which quotes whole
rows whose columns the gateway cannot tell apart, is withheld. Errors are rare: this costs
nothing on the data path.
"""

from __future__ import annotations

from gateway.masking import DETECTORS, mask_text
from gateway.postgres import wire as pg
from gateway.postgres.dialect import MaskingPolicy

__all__ = ["WITHHELD", "TextMask"]

WITHHELD = "detail withheld by Airlock: results on this connection are masked"
# ErrorResponse / NoticeResponse fields that carry free text (docs 55.8): message, hint,
# context (where) and internal query. Detail ('D') is withheld.
_TEXT_FIELDS = ("M", "H", "W", "q")


class TextMask:
    def __init__(self, policy: MaskingPolicy) -> None:
        self.detectors = tuple(DETECTORS[name] for name in policy.detectors)
        self.context = tuple(d.name for d in self.detectors)

    def text(self, value: str) -> str:
        if not self.detectors:
            return value
        masked, _ = mask_text(value, self.detectors, context=self.context)
        return masked

    def message(
        self,
        message: pg.ErrorResponse | pg.NoticeResponse | pg.NotificationResponse,
        raw: memoryview,
    ) -> bytes | memoryview:
        """The message to forward: ``raw`` when nothing changed, else re-encoded."""
        if isinstance(message, pg.NotificationResponse):
            payload = self.text(message.payload)
            if payload == message.payload:
                return raw
            return pg.encode(pg.NotificationResponse(message.process_id, message.channel, payload))
        fields = dict(message.fields)
        for key in _TEXT_FIELDS:
            if key in fields:
                fields[key] = self.text(fields[key])
        if "D" in fields:
            fields["D"] = WITHHELD
        if fields == message.fields:
            return raw
        return pg.encode(type(message)(fields))
