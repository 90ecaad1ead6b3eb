"""The statement journal's file format: what a segment holds and how it is read back.

A segment is one file: the 8-byte magic ``AIRLOCK1``, then records, then zero bytes up to its
preallocated size. A record is a header, ``<II`` (payload length, CRC-32 of the payload), and
the payload, whose first byte says what it is:

==========  ==========================================================================
``S``       a session: ``<I`` its number in the segment, then UTF-8 JSON (``id``,
            ``connection``, ``subject``, ``kind``, ``actors``: the identity chain)
``R``       a statement about to be forwarded upstream: ``<IIIqc`` session number, text
            number, its ordinal in the session (1, 2, ...), when (microseconds since the
            epoch, UTC) and its verdict (``a`` allowed, ``h`` held and approved)
``Q``       the same, for a text the session has not stated in the segment yet: the
            text (UTF-8) follows, and has that number from here on (each session states
            a text once per segment and refers to it by number after)
``C``       the store confirmed the session's statements up to an ordinal: ``<II``
            session number, ordinal
==========  ==========================================================================

A writer fills the payload first and the header last, so a record is whole once its length and
CRC are: a reader stops at the first zero length (the end), at a record that runs past the
file's end (a truncated file) and at a CRC that does not match (a record torn by a crash or a
power loss), and keeps everything before. Integers are little-endian.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONFIRM",
    "HEADER",
    "MAGIC",
    "RAN",
    "Segment",
    "SessionHead",
    "Statement",
    "confirm_record",
    "parse",
    "session_record",
]

MAGIC = b"AIRLOCK1"
HEADER = struct.Struct("<II")  # payload length, CRC-32 of the payload
RAN = struct.Struct("<cIIIqc")  # b"R", session, text, ordinal, at_us, verdict
CONFIRM = struct.Struct("<cII")  # b"C", session, ordinal
_SESSION = struct.Struct("<cI")  # b"S", session (the JSON follows)
VERDICTS = {b"a": "allow", b"h": "hold"}


def _record(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def session_record(number: int, head: SessionHead) -> bytes:
    """The ``S`` record of a session (header included)."""
    body = {
        "id": head.id,
        "connection": head.connection,
        "subject": head.subject,
        "kind": head.kind,
        "actors": list(head.actors),
    }
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return _record(_SESSION.pack(b"S", number) + text.encode("utf-8", "surrogatepass"))


def confirm_record(session: int, ordinal: int) -> bytes:
    """The ``C`` record: the session's statements up to ``ordinal`` are in the store."""
    return _record(CONFIRM.pack(b"C", session, ordinal))


@dataclass(frozen=True, slots=True)
class SessionHead:
    """Who ran a session's statements, as its ``S`` record states it."""

    id: str
    connection: str
    subject: str
    kind: str
    actors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    """One journaled statement: forwarded upstream (or about to be) when the file was cut."""

    ordinal: int
    text: str
    at_us: int
    verdict: str


@dataclass
class Segment:
    """What a segment file holds, read back: sessions by id, their statements (by ordinal), the
    ordinal each session's store confirmation reached, and how the reading ended."""

    sessions: dict[str, SessionHead] = field(default_factory=dict)
    statements: dict[str, dict[int, Statement]] = field(default_factory=dict)
    confirmed: dict[str, int] = field(default_factory=dict)
    records: int = 0
    end: str = "end"  # end | truncated | torn | not a journal


def parse(data: bytes) -> Segment:
    """Read a segment's bytes; a bad or cut tail ends the reading, what came before counts."""
    found = Segment()
    if not data.startswith(MAGIC):
        found.end = "not a journal"
        return found
    numbers: dict[int, str] = {}  # session number → id
    texts: dict[tuple[int, int], str] = {}
    pos, size = len(MAGIC), len(data)
    while pos + HEADER.size <= size:
        length, crc = HEADER.unpack_from(data, pos)
        if length == 0:
            return found
        start, end = pos + HEADER.size, pos + HEADER.size + length
        if end > size:
            found.end = "truncated"
            return found
        payload = data[start:end]
        if zlib.crc32(payload) != crc or not _apply(payload, found, numbers, texts):
            found.end = "torn"
            return found
        found.records += 1
        pos = end
    if pos < size:
        found.end = "truncated"
    return found


def _apply(
    payload: bytes, found: Segment, numbers: dict[int, str], texts: dict[tuple[int, int], str]
) -> bool:
    """Take one record into ``found``; False when it does not read as one."""
    kind = payload[:1]
    try:
        if kind == b"Q":
            _, number, text, _, _, _ = RAN.unpack_from(payload)
            texts[number, text] = payload[RAN.size :].decode("utf-8", "surrogatepass")
            kind = b"R"
        if kind == b"R":
            _, number, text, ordinal, at_us, verdict = RAN.unpack_from(payload)
            if len(payload) != RAN.size and payload[:1] == b"R":
                return False
            session = numbers[number]
            found.statements.setdefault(session, {})[ordinal] = Statement(
                ordinal, texts[number, text], at_us, VERDICTS.get(verdict, "allow")
            )
        elif kind == b"C":
            _, number, ordinal = CONFIRM.unpack(payload)
            session = numbers[number]
            found.confirmed[session] = max(found.confirmed.get(session, 0), ordinal)
        elif kind == b"S":
            (_, number) = _SESSION.unpack_from(payload)
            head = _head(json.loads(payload[_SESSION.size :].decode("utf-8", "surrogatepass")))
            numbers[number] = head.id
            found.sessions.setdefault(head.id, head)
        else:
            return False
    except (struct.error, KeyError, ValueError, TypeError):
        return False
    return True


def _head(body: Any) -> SessionHead:
    actors = body["actors"]
    if not isinstance(actors, list) or not all(isinstance(a, str) for a in actors):
        raise ValueError("actors must be a list of subjects")
    values = (body["id"], body["connection"], body["subject"], body["kind"])
    if not all(isinstance(v, str) for v in values):
        raise ValueError("a session's fields are text")
    return SessionHead(*values, tuple(actors))
