"""Text for records: what a protocol decoded from bytes, made fit for the store."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.guardrails import Redacted, Redactor

__all__ = ["readable", "remembered"]

REMEMBERED = 1024  # texts a session's ``remembered`` redactor keeps answers for


def readable(text: str) -> str:
    """``text`` as decoded with ``surrogateescape`` (a client's or server's bytes that were not
    UTF-8), with those bytes shown as U+FFFD: the store refuses lone surrogates."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def remembered(redact: Redactor, size: int = REMEMBERED) -> Redactor:
    """``redact`` answering a text without parameters once: the session's journal redacts a text
    when it first forwards it and its statement log again when it flushes the batch, and a
    simple-protocol session's texts are mostly new (their literals differ), so each would be
    redacted twice. Keeps at most ``size`` answers (then starts over)."""
    seen: dict[str, Redacted] = {}

    def shown(text: str, params: Sequence[bytes | None] = ()) -> Redacted:
        if params:
            return redact(text, params)
        found = seen.get(text)
        if found is None:
            if len(seen) >= size:
                seen.clear()
            found = seen[text] = redact(text)
        return found

    return shown
