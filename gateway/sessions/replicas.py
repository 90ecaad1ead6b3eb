"""This gateway process as a replica: its row in the store, its heartbeat, and the reaper of
the processes that are gone.

A gateway killed with SIGKILL (or whose host died) cannot end its sessions or cancel the
reviews its sessions hold: the statements behind them can never run, yet the reviews would stay
pending, approvable, and the sessions ``live``. So every gateway process registers a replica
row (a random id per process start, its host and pid) before its listeners accept anything,
writes it on each session it starts (``session.replica_id``), and heartbeats it every
``[gateway] heartbeat_interval``. A replica is gone when

- its heartbeat is older than ``[gateway] replica_dead_after`` and it never said it stopped
  (found by every replica, at its start and at each heartbeat), or
- at a replica's start, it ran on the same host and PID namespace and its pid is no longer
  alive: a restarted single gateway reaps its predecessor at once, not after
  ``replica_dead_after``. Pids are only compared within one boot and PID namespace (a
  container's pid 7 says nothing about another container's); a pid reused since by an
  unrelated process only delays the reap to the heartbeat rule.

Reaping a gone replica cancels each pending statement review of its sessions through
:meth:`approvals.ApprovalService.abandon` (audited, ``review.decided`` announced, the card
says why), then, in one transaction, marks it stopped, ends its sessions that have no end
(``stats.end``: ``gateway gone``) and appends one ``replica.reaped`` audit event
(:mod:`store.replicas`: exactly once across racing reapers). A clean stop does the same for
its own row once its sessions have ended (normally nothing is left) and marks it stopped.

A replica that finds its own row stopped (another replica took it for gone: a pause longer
than ``replica_dead_after``) stops the process: its sessions and reviews are already ended in
the store, so it must not go on serving them (:class:`gateway.errors.ReplicaReaped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from approvals import ApprovalError, ApprovalService, new_id
from gateway.errors import ReplicaReaped
from gateway.metrics import Metrics
from store import (
    REPLICA_REAPED,
    REPLICA_STOPPED,
    ReplicaRecord,
    SqlRepository,
    StoreError,
)

__all__ = [
    "GONE",
    "RESTARTED",
    "SESSION_END",
    "STOPPED",
    "Place",
    "Reaped",
    "Replica",
    "here",
    "pid_alive",
    "running_replica",
]

log = logging.getLogger("airlock.replicas")

# The replicas running in this process. Several share its pid (tests run two gateways in one
# process): the pid rule must not take one of them for a dead predecessor.
_HERE: set[str] = set()

# Why a reaped review was cancelled: what the card, the thread and a refused approval say.
RESTARTED = "the gateway restarted; the statement never ran"
GONE = "the gateway holding it is gone; the statement never ran"
STOPPED = "the gateway stopped; the statement never ran"
SESSION_END = "gateway gone"  # a reaped session's stats.end


@dataclass(frozen=True, slots=True)
class Place:
    """Where a process runs: its host name, its pid, and the boot and PID namespace within
    which its pid means something (None where that cannot be read: pids are then not
    compared)."""

    host: str
    pid: int
    pid_namespace: str | None


def here() -> Place:
    return Place(socket.gethostname(), os.getpid(), _pid_namespace())


def _pid_namespace() -> str | None:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace.st_dev}:{namespace.st_ino}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists here (another user's counts: it exists)."""
    if pid <= 0:
        return True  # not a pid we can ask about: never taken for dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class Reaped:
    """One gone replica this one reaped: the reviews it cancelled, the sessions it ended."""

    replica: ReplicaRecord
    reason: str
    reviews: tuple[str, ...]
    sessions: tuple[str, ...]


class Replica:
    """This process's replica: register, heartbeat, reap the gone, stop (see the module)."""

    def __init__(
        self,
        repository: SqlRepository,
        service: ApprovalService,
        *,
        dead_after: timedelta,
        place: Place | None = None,
        say: Callable[[str], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = new_id()
        self.metrics = metrics
        self.repository, self.service = repository, service
        self.dead_after = dead_after
        self.place = place or here()
        self._say = say
        self._outage = False
        self._beaten = time.monotonic()  # this replica's last heartbeat that the store took

    async def start(self) -> list[Reaped]:
        """Register this replica; then reap the predecessors on this host whose process is
        gone, and every replica whose heartbeat is too old."""
        place = self.place
        await self.repository.register_replica(
            self.id, host=place.host, pid=place.pid, pid_namespace=place.pid_namespace
        )
        if place == here():
            _HERE.add(self.id)
        reaped: list[Reaped] = []
        if place.pid_namespace is not None:
            for other in await self.repository.running_replicas(
                host=place.host, pid_namespace=place.pid_namespace, excluding=self.id
            ):
                if other.id in _HERE:
                    continue
                # Not this process's: a row with its pid is a predecessor's (the namespace
                # would not have given the pid again while that one lived).
                if other.pid == place.pid or not pid_alive(other.pid):
                    done = await self.reap(other, RESTARTED)
                    reaped += [done] if done is not None else []
        return reaped + await self.reap_gone()

    async def beat(self) -> list[Reaped]:
        """Heartbeat, then reap the replicas whose heartbeat is too old. Raises ReplicaReaped
        when another replica took this one for gone.

        After a gap in this replica's own heartbeats longer than ``dead_after`` (the store
        was out of reach, for it and most likely for the others too) it does not reap at this
        beat: the others get one interval to heartbeat again first, or one store outage
        would have the first replica back reap every other."""
        if not await self.repository.heartbeat_replica(self.id):
            raise ReplicaReaped(
                f"replica {self.id} was reaped by another replica (no heartbeat for "
                f"{self.dead_after.total_seconds():g}s): its sessions and reviews are ended; "
                "stopping"
            )
        now = time.monotonic()
        gap, self._beaten = now - self._beaten, now
        if gap > self.dead_after.total_seconds():
            return []
        return await self.reap_gone()

    async def reap_gone(self) -> list[Reaped]:
        reaped = []
        for other in await self.repository.gone_replicas(self.dead_after, excluding=self.id):
            done = await self.reap(other, GONE)
            if done is not None:
                reaped.append(done)
        return reaped

    async def reap(self, replica: ReplicaRecord, reason: str) -> Reaped | None:
        """Cancel the replica's pending reviews, then end its sessions and mark it stopped
        (None: another reaper, or its own stop, came first)."""
        cancelled = await self._abandon(replica.id, reason)
        details: dict[str, object] = {
            "host": replica.host,
            "pid": replica.pid,
            "heartbeat_at": replica.heartbeat_at.isoformat(),
            "reason": reason,
            "reviews": list(cancelled),
        }
        ended = await self.repository.reap_replica(
            replica.id, by=self.id, end=SESSION_END, action=REPLICA_REAPED, details=details
        )
        if ended is None:
            return None
        cancelled += await self._abandon(replica.id, reason)  # opened while we reaped it
        done = Reaped(replica, reason, tuple(cancelled), tuple(ended))
        if self.metrics is not None:
            self.metrics.replicas_reaped.labels(
                "restarted" if reason == RESTARTED else "gone"
            ).inc()
        self._tell(
            f"airlock: reaped replica {replica.id} ({replica.host} pid {replica.pid}, last "
            f"heartbeat {replica.heartbeat_at.isoformat(timespec='seconds')}): "
            f"{len(done.sessions)} sessions ended, {len(done.reviews)} reviews cancelled"
        )
        return done

    async def stop(self) -> None:
        """A clean stop, once this process's sessions have ended: cancel what is left of its
        reviews, end what is left of its sessions, mark it stopped."""
        _HERE.discard(self.id)
        cancelled = await self._abandon(self.id, STOPPED)
        details: dict[str, object] = {"reason": STOPPED, "reviews": cancelled}
        await self.repository.reap_replica(
            self.id,
            by=self.id,
            end="gateway stopped",
            action=REPLICA_STOPPED,
            details=details,
            quiet=True,
        )

    async def _abandon(self, replica_id: str, reason: str) -> list[str]:
        cancelled = []
        for review_id in await self.repository.orphaned_reviews(replica_id):
            try:
                await self.service.abandon(review_id, reason)
            except ApprovalError as exc:  # decided meanwhile, or not a statement's
                log.info("review %s of replica %s not abandoned: %s", review_id, replica_id, exc)
                continue
            cancelled.append(review_id)
        return cancelled

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Heartbeat and reap every ``interval`` seconds until ``stop``. A store that cannot
        be reached is said once (and once when it is back); any other failure is logged and
        the loop goes on (a replica that stopped heartbeating would be taken for gone);
        ReplicaReaped ends it."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            try:
                await self.beat()
            except StoreError as exc:
                if self.metrics is not None:
                    self.metrics.heartbeat_failures.inc()
                if not self._outage:
                    log.warning("replica %s: cannot heartbeat: %s", self.id, exc.message)
                self._outage = True
                continue
            except ReplicaReaped:
                raise
            except Exception:  # a reap that failed must not stop the heartbeat: say it, go on
                log.exception("replica %s: reaping failed; retrying at the next heartbeat", self.id)
            if self._outage:
                log.warning("replica %s: heartbeating again", self.id)
                self._outage = False

    def _tell(self, line: str) -> None:
        if self._say is not None:
            self._say(line)
        else:
            log.warning("%s", line)


@contextlib.asynccontextmanager
async def running_replica(
    repository: SqlRepository,
    service: ApprovalService,
    stop: asyncio.Event,
    *,
    interval: timedelta,
    dead_after: timedelta,
    say: Callable[[str], None] | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Replica]:
    """This process's replica, registered (and the gone reaped) before the body runs,
    heartbeating while it runs, stopped cleanly after it. When another replica reaped this
    one, the body is cancelled and ReplicaReaped raised in its place: the service ends with
    it, so the process stops and says why (exit status 2)."""
    replica = Replica(repository, service, dead_after=dead_after, say=say, metrics=metrics)
    await replica.start()
    beating = asyncio.create_task(replica.run(stop, interval.total_seconds()))
    reaped: list[ReplicaReaped] = []
    owner = asyncio.current_task()

    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and isinstance(task.exception(), ReplicaReaped):
            reaped.append(task.exception())  # type: ignore[arg-type]
            if owner is not None:
                owner.cancel()

    beating.add_done_callback(done)
    try:
        yield replica
    finally:
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
        if reaped:
            if owner is not None:
                owner.uncancel()
            raise reaped[0]
        try:
            await replica.stop()
        except StoreError as exc:  # the next start, or another replica, reaps it
            log.warning("replica %s: could not record its stop: %s", replica.id, exc.message)
