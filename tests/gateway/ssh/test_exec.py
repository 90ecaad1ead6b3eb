"""Exec requests through the gateway with the real ssh client against the real sshd."""

from __future__ import annotations

import asyncio
from pathlib import Path

from approvals import ReviewState
from tests.gateway.ssh.support import gateway_env


async def test_allowed_exec_runs_upstream(tmp_path: Path) -> None:
    """A read runs on the upstream host as its user and its output and status come back."""
    async with gateway_env(tmp_path) as env:
        code, out, err = await env.ssh("id -un; echo out; echo err >&2; exit 0")
        assert (code, out) == (0, "root\nout\n"), err
        assert "err" in err
        code, _, _ = await env.ssh("ls /nonexistent-path")
        assert code == 2


async def test_held_exec_runs_once_approved(tmp_path: Path) -> None:
    """A destructive command waits for its review, says which on stderr, runs once approved."""
    async with gateway_env(tmp_path) as env:
        victim = tmp_path / "victim"
        victim.write_text("x")
        proc = await env.start_ssh(f"rm {victim} && echo gone")
        review = await env.pending_review()
        await asyncio.sleep(0.2)
        assert victim.exists()  # nothing ran before the approval
        await env.decide(review.id, "approve")
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err
        assert out == b"gone\n"
        assert f"review {review.id}" in err.decode()
        assert not victim.exists()


async def test_denied_exec_exits_non_zero_with_reason(tmp_path: Path) -> None:
    """A denied command never runs; the client exits 1 with the approver's reason on stderr."""
    async with gateway_env(tmp_path) as env:
        victim = tmp_path / "victim"
        victim.write_text("x")
        proc = await env.start_ssh(f"sudo rm -rf {victim}")
        review = await env.pending_review()
        await env.decide(review.id, "deny", "not during the freeze")
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 1
        assert "denied by bob@example.com: not during the freeze" in err.decode()
        assert victim.exists()


async def test_unparseable_exec_is_held(tmp_path: Path) -> None:
    """A command line the parser cannot read is held, never run directly."""
    async with gateway_env(tmp_path) as env:
        proc = await env.start_ssh("echo 'unterminated")
        review = await env.pending_review()
        assert review.rule == "default/unknown"
        proc.kill()
        await proc.wait()
        final = await env.review(review.id)
        for _ in range(100):
            if final.state is not ReviewState.PENDING:
                break
            await asyncio.sleep(0.05)
            final = await env.review(review.id)
        assert final.state is ReviewState.CANCELLED


async def test_scp_is_refused(tmp_path: Path) -> None:
    """scp (its remote end, scp -t) is refused with rule ssh/sftp, and nothing is written."""
    async with gateway_env(tmp_path) as env:
        source = tmp_path / "source.txt"
        source.write_text("data")
        target = tmp_path / "copied.txt"
        proc = await asyncio.create_subprocess_exec(
            "scp", "-O", "-P", str(env.ssh_port), "-F", "/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "PubkeyAuthentication=no", str(source), f"box@127.0.0.1:{target}",
            env=env.askpass(env.token), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode != 0
        assert "rule ssh/sftp" in err.decode()
        assert not target.exists()
