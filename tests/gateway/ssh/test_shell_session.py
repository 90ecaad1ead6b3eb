"""Interactive shells through the gateway with the real ssh client (-tt) and sshd: recorded as
asciicast v2, and a line whose command the rules hold is not sent until it is decided."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from approvals import ReviewState
from gateway.cli.ssh import play
from gateway.ssh.recording import asciicast_text
from tests.gateway.cli.support import airlock_in_thread
from tests.gateway.ssh.support import Env, gateway_env


class Terminal:
    """The ssh client on a pty, driven through its stdin; its output read until a marker."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen = b""

    @classmethod
    async def open(cls, env: Env) -> Terminal:
        proc = await env.start_ssh(None, options=["-tt"])
        terminal = cls(proc)
        await terminal.expect(b"# ")
        return terminal

    async def expect(self, marker: bytes, within: float = 15) -> bytes:
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(within):
                while marker not in self.seen:
                    data = await self.proc.stdout.read(4096)
                    assert data, f"the terminal closed; it showed {self.seen!r}"
                    self.seen += data
        except TimeoutError:
            raise AssertionError(
                f"{marker!r} not shown; the terminal showed {self.seen!r}"
            ) from None
        before, _, self.seen = self.seen.partition(marker)
        return before

    async def type(self, keys: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(keys)
        await self.proc.stdin.drain()

    async def close(self) -> int:
        await self.expect(b"# ")  # typed before the prompt shows, a line cannot be read
        await self.type(b"exit\r")
        await asyncio.wait_for(self.proc.communicate(), 15)
        return self.proc.returncode or 0


async def _session_id(env: Env) -> str:
    [session] = await env.gw.runtime.repository.list_sessions(connection="box", limit=1)
    return session.id


async def test_shell_is_recorded_as_asciicast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell's output is recorded as asciicast v2 with the session (input is not, by
    default), and ``airlock sessions replay ID`` plays it, prints it, or lists its lines."""
    async with gateway_env(tmp_path) as env:
        terminal = await Terminal.open(env)
        await terminal.type(b"echo $((6*7))-recorded\r")
        await terminal.expect(b"42-recorded")
        assert await terminal.close() == 0
        session_id = await _session_id(env)
        await asyncio.sleep(1.5)  # the audit writer's batch
        rows = await env.gw.runtime.repository.list_session_events(session_id)
        text = asciicast_text(rows)
        assert text is not None
        header, *events = [json.loads(line) for line in text.splitlines()]
        assert header["version"] == 2 and header["width"] > 0
        output = "".join(e[2] for e in events if e[1] == "o")
        assert "42-recorded" in output
        assert not [e for e in events if e[1] == "i"]
        times = [e[0] for e in events]
        assert times == sorted(times)
        monkeypatch.setenv("AIRLOCK_URL", env.gw.api_url)
        monkeypatch.setenv("AIRLOCK_TOKEN", env.token)
        played = await airlock_in_thread(capsys, "sessions", "replay", session_id, "--speed", "50")
        assert played.code == 0 and "42-recorded" in played.out
        cast = await airlock_in_thread(capsys, "sessions", "replay", session_id, "--cast")
        assert json.loads(cast.out.splitlines()[0])["version"] == 2
        listed = await airlock_in_thread(capsys, "sessions", "replay", session_id, "--statements")
        assert "ok      echo $((6*7))-recorded" in listed.out


def test_play_keeps_time_and_shortens_pauses() -> None:
    """The player waits each event's time (divided by the speed), pauses capped at the limit."""
    recording = {
        "header": {"version": 2, "width": 80, "height": 24},
        "events": [[0.5, "o", "a"], [0.6, "i", "x"], [10.6, "o", "b"], [11.0, "o", "c"]],
    }
    out, waits = io.StringIO(), list[float]()
    waited = play(recording, speed=2, idle_limit=3, out=out, sleep=waits.append)
    assert out.getvalue() == "abc"
    assert waits == [0.25, 1.5, pytest.approx(0.2)]
    assert waited == pytest.approx(1.95)


async def test_a_held_line_waits_for_its_review(tmp_path: Path) -> None:
    """Enter on a line the rules hold sends nothing until approved; a denied line is dropped
    and the shell goes on; the terminal says which review it waits for."""
    async with gateway_env(tmp_path) as env:
        first, second = tmp_path / "first", tmp_path / "second"
        first.write_text("x")
        second.write_text("x")
        terminal = await Terminal.open(env)
        await terminal.type(f"rm {first}\r".encode())
        review = await env.pending_review()
        await terminal.expect(f"review {review.id}".encode())
        await asyncio.sleep(0.3)
        assert first.exists()
        await env.decide(review.id, "approve")
        await terminal.expect(b"approved: running")
        for _ in range(100):
            if not first.exists():
                break
            await asyncio.sleep(0.05)
        assert not first.exists()
        await terminal.type(f"rm {second}\r".encode())
        review = await env.pending_review()
        await env.decide(review.id, "deny", "keep it")
        await terminal.expect(b"denied by bob@example.com: keep it")
        await terminal.expect(b"# ")  # the shell's new prompt: typed before it, a line is held
        await terminal.type(b"echo still-$((1+1))\r")
        await terminal.expect(b"still-2")
        assert second.exists()
        assert await terminal.close() == 0


async def test_ctrl_c_withdraws_a_held_line(tmp_path: Path) -> None:
    """Ctrl-C while a line is held cancels its review; the line never runs."""
    async with gateway_env(tmp_path) as env:
        victim = tmp_path / "victim"
        victim.write_text("x")
        terminal = await Terminal.open(env)
        await terminal.type(f"rm {victim}\r".encode())
        review = await env.pending_review()
        await terminal.expect(b"Ctrl-C withdraws")
        await terminal.type(b"\x03")
        await terminal.expect(b"canceling statement due to user request")
        await terminal.expect(b"# ")
        assert (await env.review(review.id)).state is ReviewState.CANCELLED
        await terminal.type(b"echo after-$((2+2))\r")
        await terminal.expect(b"after-4")
        assert victim.exists()
        await terminal.close()
