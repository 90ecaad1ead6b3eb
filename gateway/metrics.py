"""Prometheus metrics of one Airlock process, on a registry of its own (no import-time globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
