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
