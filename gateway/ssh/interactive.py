"""An interactive shell (RFC 4254 §6.5 "shell" on a pty, §6.2): recorded, and held per line.

The upstream shell runs on a pty of the client's size; its output goes to the client, to the
recording (:mod:`gateway.ssh.recording`) and to a VT emulator (pyte) that keeps the screen as
the user sees it. A shell without a pty is refused: there is no line to read.

How a line is read when Enter (CR or LF) is typed: the gateway follows the keys typed since
the last Enter (printable text, backspace, Ctrl-U and Ctrl-C clear it). It waits (at most
``ECHO_WAIT_S``) until the screen's cursor row shows that text after the prompt (the part of the
row left of the cursor when the line's first key was typed): that is the line. When other
keys were used (arrows, Tab completion, Ctrl-R history search, Ctrl-A/E/W...) the keys say
nothing certain, and the line is what the screen's row shows after the prompt once the output
settled. A row that no longer starts with the prompt, a cursor that moved to another row
(a wrapped or multi-line command), or typed text the screen never shows (typed without echo:
a password prompt, ``stty -echo``) is a line the gateway cannot read: it is held as
``unknown``, its text not shown (it may be a password). The line is classified by the ssh
dialect like an exec; allowed, the Enter goes upstream; held, it does not: the terminal shows
which review it waits for, Ctrl-C withdraws it, keys typed meanwhile are dropped; denied,
cancelled or expired, the gateway sends Ctrl-C upstream (the shell drops the line) and the
terminal says why. docs/ssh.md lists how this can be fooled: it adds to recording, it does not
replace exec rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncssh
import pyte

from gateway.guardrails import Action, Verdict
from gateway.sessions import ClientGone, HoldOutcome, SessionCore
from gateway.ssh.context import SshSession
from gateway.ssh.recording import Recorder
from gateway.ssh.shell import ShellState

__all__ = ["UNREADABLE", "ShellChannel"]

ECHO_WAIT_S = 0.5
EXIT_STATUS_WAIT_S = 5.0
SETTLE_S = 0.15  # output quiet this long: the screen shows the edited line
UNREADABLE = "<a line the gateway could not read from the terminal (not shown)>"
_STATE = ShellState()
_CHUNK = 1 << 16
_ENTER = frozenset(b"\r\n")
_CLEARS = frozenset(b"\x03\x15")  # Ctrl-C, Ctrl-U
_ERASE = frozenset(b"\x7f\x08")
Process = asyncssh.SSHServerProcess[bytes]


class _Line:
    """The keys typed since the last Enter, and the prompt they follow on the screen."""

    def __init__(self) -> None:
        self.typed = bytearray()
        self.edited = False  # keys whose effect only the screen shows
        self.prompt: str | None = None
        self.row = 0

    def reset(self) -> None:
        self.typed.clear()
        self.edited = False
        self.prompt = None


class ShellChannel:
    def __init__(
        self, core: SessionCore, session: SshSession, process: Process, recorder: Recorder
    ) -> None:
        self.core, self.s, self.process, self.recorder = core, session, process, recorder
        width, height = process.term_size[:2]
        self.screen = pyte.Screen(width or 80, height or 24)
        self.stream = pyte.ByteStream(self.screen)
        self.line = _Line()
        self.output_at = time.monotonic()
        self.output = asyncio.Event()  # set at each chunk of output
        self.remote: asyncssh.SSHClientProcess[bytes] | None = None
        self.left = asyncio.Event()

    def say(self, text: str) -> None:
        """A notice on the user's terminal, on its own lines, recorded with the output."""
        data = f"\r\n\x1b[7mairlock: {text}\x1b[0m\r\n".encode()
        self.recorder.output(data)
        self.process.stdout.write(data)

    async def run(self) -> int:
        upstream = self.s.upstream
        assert upstream is not None
        process = self.process
        try:
            self.remote = await upstream.create_process(
                None, encoding=None, term_type=process.term_type, term_size=process.term_size
            )
        except (OSError, asyncssh.Error) as exc:
            process.stderr.write(f"airlock: the upstream host failed: {exc}\r\n".encode())
            return 255
        pump = asyncio.create_task(self._pump(self.remote))
        keys = asyncio.create_task(self._keys(self.remote))
        ended = asyncio.create_task(self.s.left.wait())
        self.s.tell.add(self.say)
        try:
            await asyncio.wait((pump, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.s.tell.discard(self.say)
            for task in (keys, pump, ended):
                task.cancel()
            await asyncio.gather(keys, pump, ended, return_exceptions=True)
            self.left.set()
            self.recorder.flush()
            if pump.done() and not self.s.left.is_set():  # the exit status follows the output
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(EXIT_STATUS_WAIT_S):
                        await self.remote.wait_closed()
            self.remote.close()
        status = self.remote.exit_status
        return 255 if status is None or status < 0 else status

    async def _pump(self, remote: asyncssh.SSHClientProcess[bytes]) -> None:
        """The shell's output: to the screen, the recording and the client."""
        while data := await remote.stdout.read(_CHUNK):
            self.stream.feed(data)
            self.recorder.output(data)
            self.s.bytes_out += len(data)
            self.output_at = time.monotonic()
            self.output.set()
            self.process.stdout.write(data)
            await self.process.stdout.drain()

    async def _keys(self, remote: asyncssh.SSHClientProcess[bytes]) -> None:
        """The user's keys: followed, and sent upstream, except an Enter that is held."""
        stdin = self.process.stdin
        while True:
            try:
                data = await stdin.read(_CHUNK)
            except asyncssh.TerminalSizeChanged as exc:
                remote.change_terminal_size(exc.width, exc.height, exc.pixwidth, exc.pixheight)
                self.screen.resize(exc.height, exc.width)
                self.recorder.resize(exc.width, exc.height)
                continue
            except asyncssh.SignalReceived as exc:
                remote.send_signal(exc.signal)
                continue
            except asyncssh.BreakReceived as exc:
                remote.send_break(exc.msec)
                continue
            if not data:
                remote.stdin.write_eof()
                return
            self.recorder.input(data)
            await self._typed(data, remote)

    async def _typed(self, data: bytes, remote: asyncssh.SSHClientProcess[bytes]) -> None:
        start = 0
        for index, byte in enumerate(data):
            if byte in _ENTER:
                remote.stdin.write(data[start:index])
                start = index + 1
                if await self._enter():
                    remote.stdin.write(data[index : index + 1])
                else:
                    remote.stdin.write(b"\x03")  # the shell drops the line
                self.line.reset()
                continue
            self._follow(byte)
        remote.stdin.write(data[start:])

    def _follow(self, byte: int) -> None:
        line = self.line
        if line.prompt is None:
            row = self.screen.display[self.screen.cursor.y]
            line.prompt, line.row = row[: self.screen.cursor.x], self.screen.cursor.y
        if byte in _CLEARS:
            line.reset()
        elif byte in _ERASE:
            if line.typed:
                del line.typed[-1:]
        elif byte >= 0x20:
            line.typed.append(byte)
        else:
            line.edited = True  # escape sequences, Tab, Ctrl-R, Ctrl-A/E/W, ...

    async def _enter(self) -> bool:
        """The line at Enter: read, classified, held when the rules say; True: send Enter."""
        text = await self._read_line()
        if text == "":
            return True
        shown = UNREADABLE if text is None else text
        if text is None:
            verdict = Verdict(Action.HOLD, "default/unknown", "unknown: " + UNREADABLE, "high")
        else:
            verdict = self.s.target.guardrails.evaluate(text, _STATE)
        return await self._decide(shown, verdict)

    async def _read_line(self) -> str | None:
        """What the screen shows after the prompt; None when it cannot be read."""
        line = self.line
        if line.prompt is None:
            return ""
        typed = line.typed.decode("utf-8", "replace")
        deadline = time.monotonic() + ECHO_WAIT_S
        while True:
            shown = self._screen_line()
            if shown is not None and not line.edited and shown == typed.rstrip():
                return typed.strip()
            quiet = time.monotonic() - self.output_at >= SETTLE_S
            if line.edited and quiet and shown is not None:
                return shown.strip()
            if time.monotonic() >= deadline:
                return None if typed.strip() or line.edited else ""
            self.output.clear()
            try:
                async with asyncio.timeout(0.05):
                    await self.output.wait()
            except TimeoutError:
                pass

    def _screen_line(self) -> str | None:
        line, screen = self.line, self.screen
        if line.prompt is None or screen.cursor.y != line.row:
            return None
        row = screen.display[screen.cursor.y]
        if not row.startswith(line.prompt):
            return None
        return row[len(line.prompt) :].rstrip()

    async def _decide(self, text: str, verdict: Verdict) -> bool:
        """Run, hold or refuse one line; every line recorded like an exec's command."""
        log = self.s.log
        assert log is not None
        self.s.statements_seen += 1
        review_id: str | None = None
        if verdict.action is Action.BLOCK:
            return self._refuse(text, verdict, "block", f"blocked by rule {verdict.rule}")
        if verdict.action is Action.HOLD:
            withdraw = asyncio.create_task(self._withdraw())
            try:
                held = await self.core.hold(
                    self.s, left=self.left, text=text, verdict=verdict,
                    notify=lambda m: self.say(m + " (Ctrl-C withdraws)"),
                    redact=self.s.target.redact,
                )  # fmt: skip
            except ClientGone:
                log.add(text, "cancelled", "hold", rule=verdict.rule, urgent=True)
                return False
            finally:
                withdraw.cancel()
                await asyncio.gather(withdraw, return_exceptions=True)
            if not held.approved:
                outcome = "block" if held.outcome is HoldOutcome.UNAVAILABLE else "denied"
                return self._refuse(text, verdict, outcome, held.message, held.review_id)
            review_id = held.review_id
            self.say(f"review {review_id} approved: running")
        if not log.forwarding(text, review_id is not None):
            return self._refuse(text, verdict, "block", "the statement journal cannot record it")
        log.add(text, "ok", verdict.action.value, rule=verdict.rule, review_id=review_id)
        return True

    async def _withdraw(self) -> None:
        """While a line is held: Ctrl-C (or INT, or a break) withdraws it; other keys are
        dropped; the end of input is the client leaving."""
        while True:
            try:
                data = await self.process.stdin.read(_CHUNK)
            except (asyncssh.SignalReceived, asyncssh.BreakReceived):
                self.s.cancel_hold.set()
                return
            except asyncssh.TerminalSizeChanged:
                continue
            if not data:
                self.left.set()
                return
            if b"\x03" in data:
                self.s.cancel_hold.set()
                return

    def _refuse(
        self, text: str, verdict: Verdict, outcome: str, message: str, review: str | None = None
    ) -> bool:
        assert self.s.log is not None
        self.s.refused += 1
        self.s.log.add(
            text, outcome, verdict.action.value, rule=verdict.rule, review_id=review,
            error=message, urgent=True,
        )  # fmt: skip
        self.say(message)
        return False
