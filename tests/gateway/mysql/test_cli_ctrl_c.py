"""The mariadb CLI's own Ctrl-C, in a terminal: it sends ``KILL QUERY <id>`` on a second
connection with the same token and the gateway's connection id; a held statement's review is
cancelled and a running one is killed upstream, and the CLI goes on."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from approvals import ReviewState
from tests.gateway.mysql.support import MyEnv, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
# A read the rules allow that runs for minutes (3^20 rows joined); SLEEP() is held.
SLOW = "SELECT count(*) FROM " + ", ".join(f"t t{i}" for i in range(20))  # minutes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    async with mysql_env(tmp_path_factory.mktemp("mysql-cli")) as env:
        yield env


class Terminal:
    """The mariadb CLI on a pseudo-terminal: what it prints, and keys typed into it."""

    def __init__(self, env: MyEnv) -> None:
        self.master, slave = pty.openpty()
        command = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(env.port)]
        command += ["-u", "alice", f"-p{env.token}", "my-test"]
        self.proc = subprocess.Popen(
            command, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self.seen = b""

    async def until(self, text: bytes, within: float = 15) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(within):
            while text not in self.seen:
                self.seen += await loop.run_in_executor(None, os.read, self.master, 4096)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def ctrl_c(self) -> None:
        """What Ctrl-C at the terminal sends the CLI (it has no controlling terminal here)."""
        self.proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        os.close(self.master)


async def test_ctrl_c_cancels_a_held_statement(env: MyEnv) -> None:
    """Ctrl-C while DELETE waits for its review: the review is cancelled, the CLI shows 1317
    and takes the next statement."""
    terminal = Terminal(env)
    try:
        await terminal.until(b"> ")
        terminal.type(b"DELETE FROM t;\n")
        review = await env.reviews.pending_review("my-test")
        terminal.ctrl_c()
        await terminal.until(b"1317")
        final = await env.reviews.final_review(review.id)
        assert final.state is ReviewState.CANCELLED
        assert env.count() == 3
        terminal.type(b"SELECT 40 + 2;\n")
        await terminal.until(b"42")
    finally:
        terminal.close()


async def test_ctrl_c_kills_a_running_statement(env: MyEnv) -> None:
    """Ctrl-C during a read of minutes: it is killed upstream within seconds (the server's
    1317 in the terminal) and the CLI goes on."""
    terminal = Terminal(env)
    try:
        await terminal.until(b"> ")
        terminal.type(SLOW.encode() + b";\n")
        await asyncio.sleep(1)
        terminal.ctrl_c()
        await terminal.until(b"query killed", within=10)
        await terminal.until(b"1317", within=10)
        terminal.type(b"SELECT 6 * 7;\n")
        await terminal.until(b"42", within=10)
    finally:
        terminal.close()
