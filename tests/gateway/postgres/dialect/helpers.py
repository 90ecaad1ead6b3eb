"""Shared helpers for the guardrails tests: severity order and comment insertion."""

from __future__ import annotations

from itertools import pairwise

from pglast import parser

from gateway.guardrails import Action

__all__ = ["SEVERITY", "STRING_TOKENS", "gaps", "insert_at"]

SEVERITY = {Action.ALLOW: 0, Action.HOLD: 1, Action.BLOCK: 2}
# Two string literals separated by whitespace with a newline are one literal (SQL standard
# continuation), so gaps between them are not free for insertions.
STRING_TOKENS = frozenset(["SCONST", "USCONST", "BCONST", "XCONST"])


def gaps(sql: str) -> list[int] | None:
    """Byte offsets between tokens where whitespace or a comment may go; None if unscannable."""
    if "\x00" in sql:
        return None
    try:
        tokens = parser.scan(sql)
    except Exception:
        return None
    offsets = [0]
    for before, after in pairwise(tokens):
        if before.name in STRING_TOKENS and after.name in STRING_TOKENS:
            continue
        offsets.append(before.end + 1)
    if tokens:
        offsets.append(tokens[-1].end + 1)
    return offsets


def insert_at(sql: str, inserts: dict[int, str]) -> str:
    """``sql`` with ``inserts`` (byte offset → text) spliced in."""
    encoded = sql.encode()
    out, last = [], 0
    for offset in sorted(inserts):
        out.append(encoded[last:offset])
        out.append(inserts[offset].encode())
        last = offset
    out.append(encoded[last:])
    return b"".join(out).decode()
