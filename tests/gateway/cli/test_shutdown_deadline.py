"""The shutdown's deadline (gateway.shutdown.Shutdown): its shares, its exit code, its backstop,
and the watchdog that ends a process stuck past it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from gateway.shutdown import EXIT_UNRECORDED, Shutdown


async def test_shares_of_the_deadline() -> None:
    """Before the signal nothing is limited; after it the sessions get half of what comes
    before the reserve, the services the rest of it, and the straggler cut and the store's
    close come after."""
    shutdown = Shutdown(20.0)
    assert (shutdown.sessions(), shutdown.services(), shutdown.left()) == (None, None, None)
    shutdown.begin()
    sessions, services, straggling, left = (
        shutdown.sessions(), shutdown.services(), shutdown.straggling(), shutdown.left()
    )  # fmt: skip
    assert sessions is not None and services is not None
    assert straggling is not None and left is not None
    assert shutdown.reserve == 2.0
    assert 8.9 < sessions <= 9.0
    assert 17.9 < services <= 18.0
    assert services < straggling < left <= 20.0
    assert Shutdown(3.0).reserve == pytest.approx(0.45)


async def test_a_problem_makes_the_exit_75() -> None:
    """A clean shutdown exits 0; one that left anything unwritten exits 75 (EX_TEMPFAIL)."""
    shutdown = Shutdown(1.0)
    assert shutdown.exit_code() == 0
    shutdown.problem("1 audit entries could not be written")
    assert shutdown.exit_code() == EXIT_UNRECORDED == 75
    assert shutdown.problems == ["1 audit entries could not be written"]


async def test_the_backstop_cancels_what_is_still_awaited() -> None:
    """A block bound to the shutdown is cancelled just before the deadline (a third of the
    reserve before it), not before the shutdown begins."""
    shutdown = Shutdown(0.6)
    limit = asyncio.timeout(None)
    shutdown.bound(limit)
    asyncio.get_running_loop().call_later(0.2, shutdown.begin)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with limit:
            await asyncio.sleep(30)
    took = time.monotonic() - started
    assert limit.expired()
    assert 0.2 + 0.6 - shutdown.reserve / 3 - 0.05 < took < 0.2 + 0.6 + 0.5


def test_the_watchdog_ends_a_stuck_process_at_the_deadline() -> None:
    """A process whose shutdown armed the watchdog and then hangs (here: a thread that never
    returns, as a driver's thread can) exits 75 at the deadline, saying why."""
    script = (
        "import asyncio, time\n"
        "from gateway.shutdown import Shutdown\n"
        "async def main():\n"
        "    shutdown = Shutdown(1.0, hard_exit=True)\n"
        "    shutdown.begin()\n"
        "    print('begun', flush=True)\n"
        "    await asyncio.to_thread(time.sleep, 60)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"begun\n"
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT_UNRECORDED
    assert 0.5 < took < 2.0
    assert b"the shutdown deadline (1s) passed; exiting now (exit 75)" in err
