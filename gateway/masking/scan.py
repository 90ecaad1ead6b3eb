"""Scanning values for detector findings, and the column actions every dialect shares.

``Scanner`` runs a column's detectors over a value's bytes. An action masks one value of a
column: ``text_action`` (text), ``json_action`` (JSON text) and ``null_on_find_action``; a
dialect adds the ones its types and wire formats need.

An action takes the value's bytes (never NULL: the row loop skips NULLs) and a tally, and returns
the very object it was given when nothing changed, new bytes when it masked, or None for SQL NULL.
Detectors run on the bytes themselves: every pattern is ASCII-only, so a match is ASCII text,
replacements are ASCII, and a value in UTF-8 (or any encoding where ASCII bytes are always
characters) stays valid without being decoded.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator

from gateway.masking.counts import MaskTally
from gateway.masking.detectors import Detector, Finding, without_overlaps

__all__ = [
    "Action",
    "Scanner",
    "integer_text_action",
    "json_action",
    "null_on_find_action",
    "number_checks",
    "splice",
    "text_action",
]

Action = Callable[[bytes, MaskTally], "bytes | None"]
_DIGITS = b"0123456789"
_Hint = int | bytes  # a single byte as an int: ``64 in value`` is far cheaper than ``b"@" in``
_Run = tuple[
    str,  # detector name
    Callable[[str], str],  # its mask
    Callable[[bytes], Iterator["re.Match[bytes]"]],  # the rule's finditer on bytes
    Callable[[str], "tuple[int, int] | None"],  # the rule's check
]


class Scanner:
    """Detectors of one column (with the names that get context rules) compiled for bytes.

    Each rule runs on a value only when the value has as many ASCII digits as the rule's
    candidates need and, for a rule with hints, contains one of them. A clean value costs one
    ``bytes.translate``, an ``in`` test per one-byte hint and at most one regex search.
    """

    __slots__ = (
        "_by_digits",
        "_by_hint",
        "byte_hints",
        "context",
        "count_digits",
        "detectors",
        "hint_search",
        "least",
    )

    def __init__(self, detectors: tuple[Detector, ...], context: frozenset[str]) -> None:
        self.detectors = detectors
        self.context = context
        by_digits: list[tuple[int, _Run]] = []
        by_hint: list[tuple[int, tuple[_Hint, ...], _Run]] = []
        hints: set[_Hint] = set()
        patterns: set[bytes] = set()
        for d in detectors:
            for r in d.active_rules(context=d.name in context):
                run: _Run = (d.name, d.mask, r.bytes_regex.finditer, r.check)
                rule_hints = tuple(_hint(h) for h in r.hints)
                hints.update(rule_hints)
                if r.hint_pattern:
                    patterns.add(r.hint_pattern.encode("ascii"))
                if rule_hints or r.hint_pattern:
                    by_hint.append((r.min_digits, rule_hints, run))
                else:
                    by_digits.append((r.min_digits, run))
        self._by_digits = tuple(by_digits)
        self._by_hint = tuple(by_hint)
        # gate: fewer digits than ``least`` and no hint means no candidate
        self.least = min((need for need, _ in by_digits), default=1 << 62)
        self.count_digits = any(need for need, _ in by_digits) or any(n for n, _, _ in by_hint)
        self.byte_hints = tuple(sorted(h for h in hints if isinstance(h, int)))
        longer = sorted(re.escape(h) for h in hints if isinstance(h, bytes)) + sorted(patterns)
        self.hint_search = re.compile(b"|".join(longer)).search if longer else None

    def gate(self, value: bytes) -> bool:
        """False when ``value`` cannot hold a candidate (the common answer, and a cheap one)."""
        if self.count_digits and len(value) - len(value.translate(None, _DIGITS)) >= self.least:
            return True
        return self.hinted(value)

    def hinted(self, value: bytes) -> bool:
        """True when ``value`` contains any rule's hint."""
        for hint in self.byte_hints:
            if hint in value:
                return True
        return self.hint_search is not None and self.hint_search(value) is not None

    def scan(self, value: bytes) -> list[Finding] | None:
        """Findings in ``value`` (byte offsets, non-overlapping, in order), or None."""
        digits = len(value) - len(value.translate(None, _DIGITS)) if self.count_digits else 0
        found: list[Finding] = []
        if digits >= self.least:
            for need, run in self._by_digits:
                if digits >= need:
                    _run(run, value, found)
        if self._by_hint and self.hinted(value):
            for need, hints, run in self._by_hint:
                if digits >= need and (not hints or _any_in(hints, value)):
                    _run(run, value, found)
        if not found:
            return None
        return without_overlaps(found) if len(found) > 1 else found


def _run(run: _Run, value: bytes, found: list[Finding]) -> None:
    name, mask, finditer, check = run
    for m in finditer(value):
        span = check(m.group().decode("ascii"))
        if span is not None:
            start = m.start()
            end, start = start + span[1], start + span[0]
            found.append(Finding(name, start, end, mask(value[start:end].decode("ascii"))))


def _hint(text: str) -> _Hint:
    raw = text.encode("ascii")
    return raw[0] if len(raw) == 1 else raw


def _any_in(hints: tuple[_Hint, ...], value: bytes) -> bool:
    for hint in hints:  # noqa: SIM110 (a loop is cheaper than any() over a generator here)
        if hint in value:
            return True
    return False


def _never(value: bytes) -> None:
    return None


def splice(value: bytes, found: list[Finding]) -> bytes:
    """``value`` with each finding replaced by its mask (findings in order, non-overlapping)."""
    parts: list[bytes] = []
    pos = 0
    for f in found:
        parts.append(value[pos : f.start])
        parts.append(f.replacement.encode("ascii"))
        pos = f.end
    parts.append(value[pos:])
    return b"".join(parts)


# --- detector actions ------------------------------------------------------------------------


def text_action(scanner: Scanner) -> Action:
    """Detectors on text (or binary text) values: masks in place."""
    scan, least, byte_hints = scanner.scan, scanner.least, scanner.byte_hints
    hint_search = scanner.hint_search or _never

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        # the scanner's gate, inlined: this is the path of almost every value
        if len(value) < least or len(value) - len(value.translate(None, _DIGITS)) < least:
            for hint in byte_hints:
                if hint in value:
                    break
            else:
                if hint_search(value) is None:
                    return value
        found = scan(value)
        if not found:
            return value
        tally.findings(found)
        return splice(value, found)

    return act


_JSON_ESCAPE = re.compile(rb"\\(?:u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|-?[0-9][0-9.eE+-]*+', re.DOTALL)


def _blank(m: re.Match[bytes]) -> bytes:
    return b" " * len(m.group())


def _escape_free(value: bytes) -> bytes:
    """Escapes blanked to spaces of equal length, so ``\\n4111...`` still has its boundary."""
    return _JSON_ESCAPE.sub(_blank, value) if b"\\" in value else value


def _place_in_json(value: bytes, found: list[Finding]) -> list[Finding] | None:
    """Findings inside string tokens stay; one in a number replaces the number by 0; else None."""
    tokens = [m.span() for m in _JSON_TOKEN.finditer(value)]
    starts = [s for s, _ in tokens]
    placed: list[Finding] = []
    for f in found:
        i = bisect_right(starts, f.start) - 1
        if i < 0 or f.end > tokens[i][1]:
            return None
        start, end = tokens[i]
        if value[start] == 0x22:  # '"': a string token
            if f.start == start or f.end == end:
                return None
            placed.append(f)
        elif not placed or placed[-1].start != start:
            placed.append(Finding(f.detector, start, end, "0"))
    return placed


def json_action(scanner: Scanner) -> Action:
    """Detectors on JSON text: strings masked in place, numbers replaced by 0."""
    scan = scanner.scan

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        found = scan(_escape_free(value))
        if not found:
            return value
        tally.findings(found)
        placed = _place_in_json(value, found)
        if placed is None:  # cannot place the mask inside the document: fail closed
            return b"null"
        return splice(value, placed)

    return act


def null_on_find_action(scanner: Scanner) -> Action:
    """For a value with no safe in-place mask (an array of JSON documents as text): any finding
    nulls the whole value."""
    scan = scanner.scan

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        found = scan(_escape_free(value))
        if not found:
            return value
        tally.findings(found)
        return None

    return act


def number_checks(scanner: Scanner) -> tuple[tuple[Detector, bool], ...]:
    """The detectors that can recognise an integer value here, each with its context flag."""
    return tuple(
        (d, d.name in scanner.context)
        for d in scanner.detectors
        if d.number_check is not None and (d.name in scanner.context or not d.number_needs_context)
    )


def _integer_digits(value: bytes) -> str | None:
    """Digits of an integral number's text, without sign or zero fraction."""
    body = value[1:] if value[:1] in (b"-", b"+") else value
    whole, _, frac = body.partition(b".")
    if frac.strip(b"0") or not whole.isdigit():
        return None
    return whole.decode("ascii").lstrip("0") or "0"


def integer_text_action(checks: tuple[tuple[Detector, bool], ...], min_len: int) -> Action:
    """An integer column's text values (as every text protocol sends them) masked to ``0``
    when a detector of ``checks`` (``number_checks``) recognises one; values shorter than
    ``min_len`` characters are not looked at."""

    def act(value: bytes, tally: MaskTally) -> bytes | None:
        if len(value) < min_len:
            return value
        digits = _integer_digits(value)
        if digits is not None:
            for d, ctx in checks:
                if d.number_check is not None and d.number_check(digits, ctx):
                    tally.detector(d.name)
                    return b"0"
        return value

    return act
