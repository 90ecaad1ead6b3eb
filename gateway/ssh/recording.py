"""Interactive shells recorded as asciicast v2, stored with the session in the store.

asciicast v2 (docs.asciinema.org, "asciicast v2"): a header object (``version`` 2, ``width``,
``height``, ``timestamp``, ``env``), then events ``[seconds since start, code, data]``: ``o``
output to the terminal (always recorded), ``i`` input from the keyboard (only when the
connection sets ``record_input = true``: keystrokes include passwords typed without echo),
``r`` a resize (``"COLSxROWS"``). The store keeps a recording as ``session_event`` rows of kind
``asciicast`` (seq 1, 2, ... per session): each holds the ``channel`` (the session's n-th
shell), a part of its events and, in its first row, the header. They are written by the audit
writer with its batches (every ``FLUSH_S`` or ``FLUSH_BYTES``, and at the end), on any replica.
``asciicast_text`` turns the rows back into the file ``asciinema play`` reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from store import AuditWriter, SessionEvent, StoreError

__all__ = ["KIND", "Recorder", "asciicast_text"]

KIND = "asciicast"
FLUSH_S = 1.0
FLUSH_BYTES = 256 * 1024


class Recorder:
    """One shell channel's recording; ``next_seq`` numbers the session's rows."""

    def __init__(
        self,
        audit: AuditWriter,
        session_id: str,
        channel: int,
        next_seq: Any,  # () -> int: the session's next row number
        *,
        width: int,
        height: int,
        term: str,
        record_input: bool,
    ) -> None:
        self.audit, self.session_id, self.channel = audit, session_id, channel
        self.next_seq, self.record_input = next_seq, record_input
        self.started = time.monotonic()
        self.header: dict[str, Any] | None = {
            "version": 2, "width": width, "height": height,
            "timestamp": int(time.time()), "env": {"TERM": term},
        }  # fmt: skip
        self.events: list[list[Any]] = []
        self.size = 0
        self.flushed_at = self.started
        self.lost = 0  # parts the audit writer refused (its backlog was full)

    def output(self, data: bytes) -> None:
        self._add("o", data.decode("utf-8", "replace"))

    def input(self, data: bytes) -> None:
        if self.record_input:
            self._add("i", data.decode("utf-8", "replace"))

    def resize(self, width: int, height: int) -> None:
        self._add("r", f"{width}x{height}")

    def _add(self, code: str, data: str) -> None:
        now = time.monotonic()
        self.events.append([round(now - self.started, 6), code, data])
        self.size += len(data)
        if self.size >= FLUSH_BYTES or now - self.flushed_at >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Hand what was recorded since the last flush to the audit writer."""
        self.flushed_at = time.monotonic()
        if not self.events and self.header is None:
            return
        details: dict[str, Any] = {"channel": self.channel, "events": self.events}
        if self.header is not None:
            details["header"] = self.header
        event = SessionEvent(
            session_id=self.session_id, seq=self.next_seq(), at=datetime.now(UTC), kind=KIND,
            details=details,
        )  # fmt: skip
        try:
            self.audit.submit_session_event(event)
        except StoreError:
            self.lost += 1
        self.header, self.events, self.size = None, [], 0


def asciicast_text(rows: Iterable[SessionEvent], channel: int = 1) -> str | None:
    """The asciicast v2 file of one shell of a session, from its rows; None when it has none."""
    header: dict[str, Any] | None = None
    lines: list[str] = []
    for row in rows:
        if row.kind != KIND or row.details.get("channel") != channel:
            continue
        if "header" in row.details:
            header = row.details["header"]
        lines += [json.dumps(event, ensure_ascii=False) for event in row.details["events"]]
    if header is None:
        return None
    return "\n".join([json.dumps(header), *lines]) + "\n"
