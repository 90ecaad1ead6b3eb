"""Text for records: what a protocol decoded from bytes, made fit for the store."""

from __future__ import annotations

__all__ = ["readable"]


def readable(text: str) -> str:
    """``text`` as decoded with ``surrogateescape`` (a client's or server's bytes that were not
    UTF-8), with those bytes shown as U+FFFD: the store refuses lone surrogates."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
