"""One session channel (RFC 4254 §6): an exec request classified, held, run upstream, recorded.

The command of an exec request (§6.5) is classified by the ssh dialect (``gateway.ssh.shell``):
allowed, it runs upstream on the session's own login; held, it waits for its review
(``SessionCore.hold``) while the client is told on stderr which review and where; blocked,
denied, cancelled or expired, it never runs and the channel exits with status 1 and the reason
on stderr. Nothing runs before the statement journal has it (``forwarding``); every command is
recorded with its outcome (``ok``, or ``error`` for a non-zero exit status).

While a command is held the client may type: its input is kept (up to ``HOLD_BUFFER_LIMIT``)
and sent upstream after an approval. Ctrl-C (a 0x03 byte on a pty, or the ``INT`` signal
request, §6.9) or a break (RFC 4335) withdraws the review; closing the channel or the
connection does too. Signals, breaks and window changes (§6.7) go upstream once it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncssh

from gateway.guardrails import Action, Verdict
from gateway.sessions import HOLD_BUFFER_LIMIT, ClientGone, HoldOutcome, SessionCore
from gateway.ssh.context import SshSession
from gateway.ssh.shell import ShellState

__all__ = ["EXIT_REFUSED", "ExecChannel"]

log = logging.getLogger("airlock.ssh")
EXIT_REFUSED = 1  # a command the gateway did not run
EXIT_UPSTREAM_FAILED = 255  # as OpenSSH's client exits when the connection fails
_STATE = ShellState()
SFTP_RULE = "ssh/sftp"
_WINDOW = 8 << 20  # the upstream channel's window, as the listener's (listener.WINDOW)
_TRANSFERS = frozenset(["sftp-server", "internal-sftp"])
_CHUNK = 1 << 20  # large reads: fewer wake-ups per MB (tests/bench/ssh_bench.py)
Process = asyncssh.SSHServerProcess[bytes]


class ExecChannel:
    def __init__(self, core: SessionCore, session: SshSession, process: Process) -> None:
        self.core, self.s, self.process = core, session, process
        self.pending = bytearray()  # typed while held
        self.eof = False
        self.left = asyncio.Event()  # the channel closed or the session ended

    def say(self, text: str) -> None:
        """A line from the gateway on the channel's stderr."""
        newline = "\r\n" if self.process.term_type else "\n"
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.stderr.write(f"airlock: {text}{newline}".encode())

    async def run(self, command: str) -> None:
        watch = asyncio.create_task(self._watch())
        self.s.tell.add(self.say)
        try:
            status = await self._command(command)
        finally:
            self.s.tell.discard(self.say)
            watch.cancel()
        self.process.exit(status)

    async def _watch(self) -> None:
        """Set ``left`` when the channel closes or the session ends."""
        closed = asyncio.create_task(self.process.channel.wait_closed())
        ended = asyncio.create_task(self.s.left.wait())
        try:
            await asyncio.wait((closed, ended), return_when=asyncio.FIRST_COMPLETED)
            self.left.set()
        finally:
            closed.cancel()
            ended.cancel()

    async def _command(self, text: str) -> int:
        """Classify, hold when the verdict says so, run; the exit status for the client."""
        assert self.s.log is not None
        self.s.statements_seen += 1
        verdict = self.s.target.guardrails.evaluate(text, _STATE)
        review_id: str | None = None
        if _file_transfer(text):
            transfer = Verdict(Action.BLOCK, SFTP_RULE, "file transfer", "high")
            return self._refuse(text, transfer, "block", f"scp and sftp are not served on "
                                f"{self.s.connection} (rule {SFTP_RULE})")  # fmt: skip
        if verdict.action is Action.BLOCK:
            return self._refuse(text, verdict, "block", f"blocked by rule {verdict.rule}: "
                                f"{verdict.reason}")  # fmt: skip
        if verdict.action is Action.HOLD:
            held = await self._hold(text, verdict)
            if held is None:
                return EXIT_REFUSED
            review_id = held
        if not self.s.log.forwarding(text, review_id is not None):
            return self._refuse(
                text, verdict, "block", "refused: the statement journal cannot record this "
                "command, and nothing runs unrecorded (rule audit/journal)", rule="audit/journal"
            )  # fmt: skip
        started = time.monotonic()
        status, size = await self._upstream(text)
        self.s.bytes_out += size
        self.s.log.add(
            text, "ok" if status == 0 else "error", verdict.action.value, rule=verdict.rule,
            review_id=review_id, size=size, duration_us=int((time.monotonic() - started) * 1e6),
            error=None if status == 0 else f"exit status {status}",
        )  # fmt: skip
        return status

    def _refuse(
        self, text: str, verdict: Verdict, outcome: str, message: str, *, rule: str | None = None,
        review_id: str | None = None,
    ) -> int:  # fmt: skip
        assert self.s.log is not None
        self.s.refused += 1
        self.s.log.add(
            text, outcome, verdict.action.value, rule=rule or verdict.rule, review_id=review_id,
            error=message, urgent=True,
        )  # fmt: skip
        self.say(message)
        return EXIT_REFUSED

    async def _hold(self, text: str, verdict: Verdict) -> str | None:
        """Hold the command; its review id once approved, None when refused (and recorded)."""
        typing = asyncio.create_task(self._typed())
        try:
            held = await self.core.hold(
                self.s, left=self.left, text=text, verdict=verdict, notify=self.say,
                redact=self.s.target.redact,
            )  # fmt: skip
        except ClientGone:
            assert self.s.log is not None
            self.s.log.add(text, "cancelled", verdict.action.value, rule=verdict.rule,
                           error="the client went away while held", urgent=True)  # fmt: skip
            return None
        finally:
            typing.cancel()
            await asyncio.gather(typing, return_exceptions=True)
        if held.approved:
            self.say(f"review {held.review_id} approved: running")
            return held.review_id
        outcome = "block" if held.outcome is HoldOutcome.UNAVAILABLE else "denied"
        self._refuse(text, verdict, outcome, held.message, review_id=held.review_id)
        return None

    async def _typed(self) -> None:
        """While held: keep what the client types; Ctrl-C, INT or a break withdraws."""
        stdin = self.process.stdin
        while not self.eof:
            try:
                data = await stdin.read(_CHUNK)
            except (asyncssh.SignalReceived, asyncssh.BreakReceived):
                self.s.cancel_hold.set()
                return
            except asyncssh.TerminalSizeChanged:
                continue
            if not data:
                self.eof = True
                return
            if b"\x03" in data and self.process.term_type:
                self.s.cancel_hold.set()
                return
            self.pending += data
            if len(self.pending) > HOLD_BUFFER_LIMIT:
                self.s.cancel_hold.set()
                return

    async def _upstream(self, text: str) -> tuple[int, int]:
        """Run ``text`` upstream with the client's terminal; (exit status, bytes sent back)."""
        upstream = self.s.upstream
        assert upstream is not None
        process = self.process
        try:
            remote = await upstream.create_process(
                text, encoding=None, window=_WINDOW, term_type=process.term_type,
                term_size=process.term_size if process.term_type else None,
            )  # fmt: skip
        except (OSError, asyncssh.Error) as exc:
            self.say(f"the upstream host failed: {exc}")
            return EXIT_UPSTREAM_FAILED, 0
        if self.pending:
            remote.stdin.write(bytes(self.pending))
        if self.eof:
            remote.stdin.write_eof()
        sent = [0]
        pumps = [
            asyncio.create_task(_pump(remote.stdout, process.stdout, sent)),
            asyncio.create_task(_pump(remote.stderr, process.stderr, sent)),
        ]
        feeding = None if self.eof else asyncio.create_task(_feed(process, remote))
        left = asyncio.create_task(self.left.wait())
        output = asyncio.create_task(_all(pumps))
        try:  # until the command's output ends, or the client or the session goes away
            await asyncio.wait([output, left], return_when=asyncio.FIRST_COMPLETED)
            if output.done():
                output.result()  # the pumps' error, if any
            if not left.done():
                await remote.wait_closed()
        except (OSError, asyncssh.Error) as exc:
            log.info("ssh exec on %s ended: %s", self.s.connection, exc)
        finally:
            output.cancel()
            for task in (*pumps, left, *([feeding] if feeding is not None else [])):
                task.cancel()
            await asyncio.gather(*pumps, output, left, return_exceptions=True)
            if feeding is not None:
                await asyncio.gather(feeding, return_exceptions=True)
            remote.close()
        status = remote.exit_status
        if status is None or status < 0:
            status = EXIT_UPSTREAM_FAILED
        return status, sent[0]


async def _all(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*tasks)


async def _pump(
    source: asyncssh.SSHReader[bytes], sink: asyncssh.SSHWriter[bytes], sent: list[int]
) -> None:
    while data := await source.read(_CHUNK):
        sent[0] += len(data)
        sink.write(data)
        await sink.drain()


async def _feed(process: Process, remote: asyncssh.SSHClientProcess[bytes]) -> None:
    """The client's input, signals, breaks and window changes, upstream."""
    while True:
        try:
            data = await process.stdin.read(_CHUNK)
        except asyncssh.SignalReceived as exc:
            remote.send_signal(exc.signal)
            continue
        except asyncssh.BreakReceived as exc:
            remote.send_break(exc.msec)
            continue
        except asyncssh.TerminalSizeChanged as exc:
            remote.change_terminal_size(exc.width, exc.height, exc.pixwidth, exc.pixheight)
            continue
        if not data:
            remote.stdin.write_eof()
            return
        remote.stdin.write(data)
        await remote.stdin.drain()


def _file_transfer(text: str) -> bool:
    """An exec of scp's remote end (``scp -t`` / ``scp -f``) or of an sftp server."""
    words = text.split()
    if not words:
        return False
    program = words[0].rsplit("/", 1)[-1]
    return program in _TRANSFERS or (
        program == "scp" and any(w in {"-t", "-f"} or w.startswith(("-t", "-f")) for w in words)
    )
