"""A bounded budget of failed client-credentials attempts, and bounded scrypt work.

Each attempt at the client credentials grant costs an scrypt (~50 ms of CPU, on purpose). Left
alone, a flood of wrong secrets costs the gateway one scrypt each, without limit. Here:

- **Failure budgets**: a leaky bucket per client id and one for all ids together. An attempt is
  charged *before* its scrypt runs (so a burst of concurrent attempts cannot all slip in before
  the first failure is counted) and refunded when the secret was right. An attempt that finds
  either bucket full is refused at once, without looking the id up and without scrypt:
  :class:`Throttled` (the token endpoint answers 429 ``slow_down`` with ``Retry-After``).
  Budgets are kept per *client id as sent*, whether or not such an account exists, and the
  refusal is the same for both: it tells nothing about which ids exist.
- **Bounded work**: at most ``concurrency`` scrypt computations run at once (hashing a new
  secret included); the others wait their turn.

The buckets live in the process (each replica has its own budget; N replicas allow N times the
attempts). A bucket that has drained is forgotten, so the table holds at most the ids that
failed within about one window, and every failure also spends the global budget: the table
cannot grow beyond the global budget per window.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from gateway.errors import OAuthError

__all__ = ["Budget", "SecretThrottle", "Throttled"]

T = TypeVar("T")


class Throttled(OAuthError):
    """Too many failed attempts: answered 429 ``slow_down`` with ``Retry-After``."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            "slow_down",
            f"too many failed client authentications; retry in {self.retry_after} s",
        )
        self.status = 429


@dataclass(frozen=True, slots=True)
class Budget:
    """``failures`` per ``window_s`` seconds, refilled evenly."""

    failures: int
    window_s: float

    @property
    def rate(self) -> float:
        return self.failures / self.window_s


class _Buckets:
    """Leaky buckets keyed by name: ``level`` drains at ``budget.rate`` per second."""

    def __init__(self, budget: Budget, clock: Callable[[], float]) -> None:
        self.budget, self.clock = budget, clock
        self.levels: dict[str, tuple[float, float]] = {}  # key -> (level, at)

    def level(self, key: str) -> float:
        level, at = self.levels.get(key, (0.0, 0.0))
        return max(0.0, level - (self.clock() - at) * self.budget.rate)

    def wait(self, key: str) -> float:
        """Seconds until one more failure fits (0: it fits now)."""
        over = self.level(key) + 1 - self.budget.failures
        return over / self.budget.rate if over > 0 else 0.0

    def add(self, key: str, amount: float) -> None:
        level = self.level(key) + amount
        if level <= 0:
            self.levels.pop(key, None)
        else:
            self.levels[key] = (level, self.clock())
        if len(self.levels) > 2 * self.budget.failures + 16:
            self.levels = {k: v for k, v in self.levels.items() if self.level(k) > 0}


class SecretThrottle:
    """One per process: the failure budgets and the scrypt semaphore."""

    def __init__(
        self,
        per_client: Budget,
        overall: Budget,
        *,
        concurrency: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = _Buckets(per_client, clock)
        self.overall = _Buckets(overall, clock)
        self.concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self.scrypt_runs = 0  # how many scrypt computations ran (metrics and tests)

    @contextlib.contextmanager
    def attempt(self, client_id: str) -> Iterator[_Attempt]:
        """Charge one failure to ``client_id`` and to the whole; Throttled when either budget
        is spent. Call ``.succeeded()`` on the yielded handle to refund the charge."""
        wait = max(self.clients.wait(client_id), self.overall.wait(""))
        if wait > 0:
            raise Throttled(wait)
        self.clients.add(client_id, 1)
        self.overall.add("", 1)
        handle = _Attempt()
        try:
            yield handle
        finally:
            if handle.ok:
                self.clients.add(client_id, -1)
                self.overall.add("", -1)

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` (an scrypt) on a worker thread, at most ``concurrency`` at a time."""
        if self._slots is None:  # made on first use: inside the running loop
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            self.scrypt_runs += 1
            return await asyncio.to_thread(work)


class _Attempt:
    __slots__ = ("ok",)

    def __init__(self) -> None:
        self.ok = False

    def succeeded(self) -> None:
        self.ok = True
