"""`airlock demo`'s configuration: it loads, and it anchors the audit chain with a key kept out
of the store, made once and kept across runs."""

from __future__ import annotations

import asyncio
import signal
import stat
from pathlib import Path

from gateway.cli.demo import write_config
from gateway.cli.demo_sshd import SSHD_ENV
from gateway.config import load_settings
from store import CheckpointKey
from tests.harness import free_port
from tests.support.processes import AIRLOCK, START_S, STOP_S, child_env, run_airlock


def test_demo_config_anchors_the_audit_chain(tmp_path: Path) -> None:
    """The demo signs checkpoints with an Ed25519 key only its owner can read, beside the store."""
    settings = load_settings(write_config(tmp_path))
    key = tmp_path / "audit-checkpoint.key"
    assert settings.audit.checkpoint_file == str((tmp_path / "audit-checkpoints.jsonl").resolve())
    assert settings.audit.checkpoint_key_file == str(key.resolve())
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    CheckpointKey.load(key.read_text(encoding="utf-8"))  # a valid Ed25519 private key


def test_demo_keeps_its_checkpoint_key_across_runs(tmp_path: Path) -> None:
    """A second demo run keeps the key that signed the first run's checkpoints."""
    write_config(tmp_path)
    first = (tmp_path / "audit-checkpoint.key").read_bytes()
    write_config(tmp_path)
    assert (tmp_path / "audit-checkpoint.key").read_bytes() == first


async def test_the_demo_runs_as_up_does_and_its_trail_verifies(tmp_path: Path) -> None:
    """`airlock demo` serves through the same path as `airlock up`: it signs checkpoints while
    it runs and at its stop, and it stops on SIGTERM with exit 0; `airlock audit verify` then
    passes (the demo once configured the checkpoints and never made one). Without sshd (a path
    where there is none) it says so and serves the rest."""
    api, pg, my = free_port(), free_port(), free_port()
    env = child_env(
        {
            "AIRLOCK_API__LISTEN": f"127.0.0.1:{api}",
            "AIRLOCK_LISTENERS__POSTGRES": f"127.0.0.1:{pg}",
            "AIRLOCK_LISTENERS__MYSQL": f"127.0.0.1:{my}",
            SSHD_ENV: str(tmp_path / "no-sshd"),
        }
    )
    proc = await asyncio.create_subprocess_exec(
        AIRLOCK, "demo", "--dir", str(tmp_path / "demo"), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    said: list[str] = []
    try:
        async with asyncio.timeout(START_S):
            while not any(f"PostgreSQL listener on 127.0.0.1:{pg}" in line for line in said):
                line = await proc.stdout.readline()
                assert line, "".join(said)
                said.append(line.decode())
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_S):
            rest = await proc.stdout.read()
            code = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0, "".join(said) + rest.decode()
    assert "airlock demo: no sshd (openssh-server); the ssh-demo connection is left out\n" in said
    assert not any("SSH listener" in line for line in said)
    verified = await run_airlock(
        "--config", str(tmp_path / "demo" / "airlock.toml"), "audit", "verify", env=env
    )
    assert verified.code == 0, verified.out + verified.err
    assert "checkpoints: " in verified.out and "verified" in verified.out
