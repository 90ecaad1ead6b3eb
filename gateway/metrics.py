"""Prometheus metrics of one Airlock process, on a registry of its own (no import-time globals).

The store's health (:class:`store.StoreHealth`, what this process's writers learned) is read
when the metrics are scraped (``watch_store``): ``airlock_store_available`` (1 while writes
work, 0 while they fail), ``airlock_store_write_failures_total`` (failed write attempts),
``airlock_store_outages_total`` (times writes started failing) and ``airlock_audit_pending``
(records the audit writers keep, not yet written).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from store import StoreHealth

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "airlock_http_requests_total",
            "HTTP API requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.sessions = Gauge(
            "airlock_sessions_open",
            "Client sessions open on the gateway's listeners",
            ["protocol"],
            registry=self.registry,
        )
        self.statements = Counter(
            "airlock_statements_total",
            "Statements seen by the gateway, by verdict",
            ["protocol", "verdict"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "airlock_decisions_total",
            "Review decisions recorded, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.hold_seconds = Histogram(
            "airlock_hold_seconds",
            "How long held statements waited for their decision",
            buckets=(1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600),
            registry=self.registry,
        )
        # Session caps (gateway.sessions.limits): kept together.
        self.sessions_admitted = Gauge(
            "airlock_sessions_admitted",
            "Sessions holding a place under [gateway] max_sessions (every listener, starting ones "
            "included)",
            registry=self.registry,
        )
        self.sessions_max = Gauge(
            "airlock_sessions_max",
            "[gateway] max_sessions: the sessions this process runs at most",
            registry=self.registry,
        )
        self.sessions_refused = Counter(
            "airlock_sessions_refused_total",
            "Sessions and connections refused past a cap, by listener and cap "
            "(limits/max_sessions, limits/per_identity, limits/per_connection, limits/connections)",
            ["protocol", "limit"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "airlock_auth_failures_total",
            "Refused credentials, by listener",
            ["listener"],
            registry=self.registry,
        )
        # Replicas (gateway.sessions.replicas): the gone ones this process reaped, by why
        # ("restarted": same host, pid gone; "gone": heartbeat too old), and its heartbeats
        # the store did not take.
        self.replicas_reaped = Counter(
            "airlock_replicas_reaped_total",
            "Gone gateway replicas this process reaped (sessions ended, held reviews cancelled)",
            ["reason"],
            registry=self.registry,
        )
        self.heartbeat_failures = Counter(
            "airlock_replica_heartbeat_failures_total",
            "Heartbeats of this gateway replica that the store did not take",
            registry=self.registry,
        )
        self._store = _StoreCollector()
        self.registry.register(self._store)

    def watch_store(self, health: StoreHealth) -> None:
        """Export ``health`` (the store's this process writes to) from now on."""
        self._store.health = health


class _StoreCollector(Collector):
    """The store's health, read at each scrape; nothing until there is one to read."""

    health: StoreHealth | None = None

    def collect(self) -> Iterator[Metric]:
        health = self.health
        if health is None:
            return
        yield GaugeMetricFamily(
            "airlock_store_available",
            "1 while the store takes writes, 0 while they fail (full disk, read-only, unreachable)",
            value=1 if health.writable else 0,
        )
        yield CounterMetricFamily(
            "airlock_store_write_failures",
            "Write attempts to the store that failed (each retry counts)",
            value=health.failures,
        )
        yield CounterMetricFamily(
            "airlock_store_outages",
            "Times the store's writes started failing",
            value=health.outages,
        )
        yield GaugeMetricFamily(
            "airlock_audit_pending",
            "Audit records kept in memory, not yet written to the store",
            value=health.waiting,
        )
