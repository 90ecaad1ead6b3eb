"""The statement journal: every statement is recorded here before it is forwarded upstream.

The statement log writes a session's statements to the audit trail in batches, after they ran
(:mod:`gateway.sessions.statement_log`); a process killed in between would lose them. So a
listener calls its session's :class:`SessionJournal` (``session.log.forwarding(text)``) before
it forwards a statement, and forwards it only when that returns True. The journal appends a
record to a segment file this process holds (``flock``), mapped into memory (``MAP_SHARED``):
a store to the page cache, no system call, which the kernel keeps when the process is killed.
A background thread calls ``fdatasync`` every ``sync_interval`` seconds when something was
written, so a power loss loses at most that window. When the audit writer has committed a
batch, the statement log tells the journal (``confirmed``) and it appends a ``C`` record; a
segment whose every statement is confirmed is deleted once the process has moved on to the
next one (or at a clean stop).

At start-up, before the listeners accept anyone, :mod:`gateway.sessions.replay` reads every
segment in the directory that no live process holds and writes what was never confirmed to the
audit trail, as statements whose outcome is unknown.

Segments are preallocated (``posix_fallocate``), so a full disk shows as a failure to open the
next segment, never as a fault when a page is first touched. When no segment can be written
(disk full, directory gone) ``forwarding`` returns False and the listener refuses the statement:
nothing is forwarded unrecorded. The journal tries again at most once a second.

The format is :mod:`gateway.sessions.journal_format`'s.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import mmap
import os
import socket
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from zlib import crc32

from approvals import Identity
from gateway.guardrails import Redactor
from gateway.sessions.errors import JournalError
from gateway.sessions.journal_format import (
    HEADER,
    MAGIC,
    RAN,
    SessionHead,
    confirm_record,
    session_record,
)

__all__ = ["RECENT", "SEGMENT_BYTES", "SUFFIX", "SYNC_INTERVAL", "Journal", "SessionJournal"]

_log = logging.getLogger(__name__)

SUFFIX = ".journal"
SEGMENT_BYTES = 64 << 20  # ~2 million statements of a session that repeats its texts
SYNC_INTERVAL = 0.05  # seconds: what a power loss may lose at most (docs/security.md)
RETRY_S = 1.0  # a journal that could not open a segment tries again this often at most
TEXTS_PER_SESSION = 4096  # texts a session keeps numbers for (then it states them again)
# Texts of a session's last statements kept for its end: as many unanswered statements (a
# pipeline cut short) are recorded at once, more are left to the replay at the next start.
RECENT = 64
_RAN_SIZE = HEADER.size + RAN.size
_pack_ran, _pack_header = RAN.pack_into, HEADER.pack_into


class _File:
    """One segment this process writes: its descriptor (flock held), its mapping, where the next
    record goes, and the sessions that wrote to it (with their last ordinal in it once the
    process moved on; while it is current, their ordinal now)."""

    __slots__ = ("fd", "mm", "path", "pos", "sessions", "size", "synced")

    def __init__(self, path: Path, fd: int, mm: mmap.mmap, size: int) -> None:
        self.path, self.fd, self.mm, self.size = path, fd, mm, size
        self.pos = self.synced = len(MAGIC)
        self.sessions: dict[SessionJournal, int] = {}

    def settled(self, current: bool) -> bool:
        """Every statement in it is confirmed by the store."""
        return all(
            h.confirmed >= (h.ordinal if current else last) for h, last in self.sessions.items()
        )

    def append(self, record: bytes) -> bool:
        end = self.pos + len(record)
        if end > self.size:
            return False
        self.mm[self.pos : end] = record
        self.pos = end
        return True


class Journal:
    """This process's journal in ``directory`` (see the module's docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        sync_interval: float = SYNC_INTERVAL,
    ) -> None:
        self.directory = directory
        self.segment_bytes, self.sync_interval = segment_bytes, sync_interval
        self.current: _File | None = None
        self.problem: str | None = None  # why no segment can be written now
        self._retired: list[_File] = []
        self._numbers = 0
        self._retry_at = 0.0
        self._lock = threading.Lock()  # the files, between this thread and the sync thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._made = 0

    # -- the process ------------------------------------------------------------------------

    def open(self) -> None:
        """Make the directory and the first segment; JournalError when they cannot be."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.current = self._new_file(self.segment_bytes)
        except OSError as exc:
            why = f"cannot open the statement journal in {self.directory}: {exc}"
            raise JournalError(why) from exc
        self._thread = threading.Thread(target=self._sync_loop, name="airlock-journal-sync")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Sync and unmap every segment; delete those whose statements are all confirmed (the
        rest stay for the next start-up's replay). Closing releases the locks."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        files = [*self._retired, *([self.current] if self.current is not None else [])]
        with self._lock:
            for file in files:
                self._release(file, delete=file.settled(file is self.current), sync=True)
            self._retired, self.current = [], None

    def session(
        self,
        session_id: str,
        identity: Identity,
        connection: str,
        *,
        redact: Redactor | None = None,
    ) -> SessionJournal:
        """The journal of one session (nothing is written until its first statement); its texts
        are written as ``redact`` shows them (the dialect's: secrets replaced)."""
        self._numbers += 1
        head = SessionHead(
            session_id,
            connection,
            identity.subject,
            identity.kind.value,
            tuple(actor.subject for actor in identity.actors),
        )
        return SessionJournal(self, head, self._numbers, redact)

    # -- segments -----------------------------------------------------------------------------

    def writable(self, room: int) -> _File | None:
        """The current segment when ``room`` more bytes fit in it; else the next one, opened
        now (None, and ``problem`` says why, when it cannot be)."""
        current = self.current
        if current is not None and current.pos + room <= current.size:
            return current
        if current is None and time.monotonic() < self._retry_at:
            return None
        try:
            fresh = self._new_file(max(self.segment_bytes, 2 * room + len(MAGIC)))
        except OSError as exc:
            self._unavailable(exc)
            return None
        if self.problem is not None:
            _log.warning("statement journal: writable again (%s)", fresh.path)
            self.problem = None
        if current is not None:
            for handle in current.sessions:
                current.sessions[handle] = handle.ordinal
            self._retired.append(current)
        self.current = fresh
        self.settle()
        return fresh

    def _unavailable(self, exc: OSError) -> None:
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        if self.problem is None:
            _log.error("statement journal: cannot open a segment in %s: %s; statements are "
                       "refused until it can", self.directory, why)  # fmt: skip
        self.problem = why
        self._retry_at = time.monotonic() + RETRY_S
        current = self.current
        if current is not None:  # full: it stays until its statements are confirmed
            for handle in current.sessions:
                current.sessions[handle] = handle.ordinal
            self._retired.append(current)
            self.current = None

    def settle(self) -> None:
        """Delete the segments the process moved on from whose statements are all confirmed."""
        done = [file for file in self._retired if file.settled(False)]
        if not done:
            return
        with self._lock:
            for file in done:
                self._retired.remove(file)
                self._release(file, delete=True, sync=False)

    def _new_file(self, size: int) -> _File:
        """A new segment: made under a temporary name, locked and preallocated, then renamed
        (a replaying process never sees one half made)."""
        self._made += 1
        name = f"{self._prefix}-{self._made:06d}"
        temporary = self.directory / f"{name}.new"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.posix_fallocate(fd, 0, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            mm[: len(MAGIC)] = MAGIC
            path = self.directory / f"{name}{SUFFIX}"
            os.rename(temporary, path)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        return _File(path, fd, mm, size)

    def _release(self, file: _File, *, delete: bool, sync: bool) -> None:
        """Unmap and close a segment (its lock goes with it); delete it first if ``delete``."""
        try:
            if delete:
                file.path.unlink(missing_ok=True)
            elif sync and file.pos != file.synced:
                os.fdatasync(file.fd)
        except OSError as exc:
            _log.error("statement journal: %s: %s", file.path, exc)
        file.mm.close()
        os.close(file.fd)

    # -- the window a power loss may lose -------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.sync_interval):
            self.sync()

    def sync(self) -> None:
        """``fdatasync`` each segment written since the last sync (its mapped pages too)."""
        with self._lock:
            files = [*self._retired, *([self.current] if self.current is not None else [])]
            for file in files:
                pos = file.pos
                if pos != file.synced:
                    try:
                        os.fdatasync(file.fd)
                    except OSError as exc:
                        _log.error("statement journal: fdatasync %s: %s", file.path, exc)
                        continue
                    file.synced = pos


class SessionJournal:
    """One session's statements in the journal: ``ran`` before each is forwarded (its ordinal
    in the session is ``ordinal`` after), ``confirmed`` once the store holds them."""

    __slots__ = (
        "_ended", "_file", "_held", "_journal", "_next_text", "_number", "_redact", "_remember",
        "_texts", "confirmed", "head", "ordinal", "recent", "shown",
    )  # fmt: skip

    def __init__(
        self, journal: Journal, head: SessionHead, number: int, redact: Redactor | None = None
    ) -> None:
        self._journal, self.head, self._number = journal, head, number
        self._redact = redact
        self._file: _File | None = None  # the segment this session last stated itself in
        self._texts: dict[str, int] = {}  # in that segment
        self._next_text = 0
        self.ordinal = 0  # statements journaled
        self.confirmed = 0  # statements the store holds
        self._ended = False
        # An ASCII text redacted here, as shown: the statement log takes it (``pop``) when it
        # writes the text, so a text new to the session is redacted once, not twice.
        self.shown: dict[str, str] = {}
        # The texts of the last statements journaled, and which of their ordinals were held:
        # what the session's end records of statements never answered (``unanswered``).
        self.recent: deque[str] = deque(maxlen=RECENT)
        self._remember = self.recent.append
        self._held: deque[int] = deque(maxlen=RECENT)

    def ran(self, text: str, held: bool = False) -> bool:
        """Record that ``text`` is about to be forwarded (``held``: it was held and approved);
        False when it cannot be (then it must not be forwarded)."""
        file = self._file
        index = self._texts.get(text)
        if (
            index is None
            or file is None
            or file is not self._journal.current
            or file.pos + _RAN_SIZE > file.size
        ):
            return self._ran_new(text, held)
        ordinal = self.ordinal = self.ordinal + 1
        pos = file.pos
        mm = file.mm
        _pack_ran(
            mm, pos + 8, b"R", self._number, index, ordinal, time.time_ns() // 1000,
            b"h" if held else b"a",
        )  # fmt: skip
        _pack_header(mm, pos, RAN.size, crc32(mm[pos + 8 : pos + _RAN_SIZE]))
        file.pos = pos + _RAN_SIZE
        self._remember(text)
        if held:
            self._held.append(ordinal)
        return True

    def _ran_new(self, text: str, held: bool) -> bool:
        """``ran`` for a text new to the segment (one ``Q`` record states it and the statement;
        a text with other literals is a new text), or a session new to it, or a full one."""
        shown = text if self._redact is None else self._redact(text).text
        if text.isascii():
            memo = self.shown
            if len(memo) >= TEXTS_PER_SESSION:  # texts journaled but never written (rare)
                memo.clear()
            memo[text] = shown
        data = shown.encode("utf-8", "surrogatepass")
        room = len(data) + _RAN_SIZE
        file = self._file
        if file is None or file is not self._journal.current or file.pos + room > file.size:
            file = self._enter(room + 1024)
            if file is None:
                return False
        index = self._texts.get(text)
        if index is not None:
            return self.ran(text, held)
        texts = self._texts
        if len(texts) >= TEXTS_PER_SESSION:
            texts.clear()
        index = texts[text] = self._next_text
        self._next_text = index + 1
        ordinal = self.ordinal = self.ordinal + 1
        payload = RAN.pack(
            b"Q", self._number, index, ordinal, time.time_ns() // 1000, b"h" if held else b"a"
        )
        payload += data
        file.append(HEADER.pack(len(payload), crc32(payload)) + payload)
        self._remember(text)
        if held:
            self._held.append(ordinal)
        return True

    def unanswered(self, count: int) -> list[tuple[str, bool]]:
        """The last ``count`` statements journaled, oldest first: (text, held and approved);
        none when the journal keeps fewer texts (``RECENT``: the replay at the next start
        records them then, as it records a killed process's)."""
        recent = self.recent
        if count <= 0 or count > len(recent):
            return []
        first = self.ordinal - count + 1
        held = set(self._held)
        texts = list(recent)[len(recent) - count :]
        return [(text, first + i in held) for i, text in enumerate(texts)]

    def _enter(self, room: int) -> _File | None:
        """The segment to write ``room`` bytes to, with this session stated in it."""
        journal = self._journal
        file = journal.writable(room)
        if file is None:
            return None
        if file is not self._file:
            if not file.append(session_record(self._number, self.head)):
                return None
            file.sessions[self] = self.ordinal
            self._file, self._texts = file, {}
        return file

    def confirm(self, ordinal: int) -> None:
        """The store holds this session's statements up to ``ordinal``."""
        if ordinal <= self.confirmed:
            return
        self.confirmed = ordinal
        file = self._enter(256)
        if file is not None:
            file.append(confirm_record(self._number, ordinal))
        self._forget()
        self._journal.settle()

    def end(self) -> None:
        """The session ended: its texts are dropped; once its statements are all confirmed the
        current segment forgets it (segments it left keep it until they are deleted)."""
        self._ended = True
        self._texts = {}
        self.shown = {}
        self.recent.clear()
        self._held.clear()
        self._forget()

    def _forget(self) -> None:
        file = self._file
        if self._ended and self.confirmed >= self.ordinal and file is not None:
            file.sessions.pop(self, None)

    @property
    def problem(self) -> str | None:
        """Why statements cannot be journaled now (None: they can)."""
        return self._journal.problem
