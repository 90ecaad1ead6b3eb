"""The PostgreSQL gateway: listener, start-up, upstream login, the two relay directions."""

from gateway.postgres.context import Deps
from gateway.postgres.listener import PostgresListener
from gateway.postgres.target import Target, build_targets

__all__ = ["Deps", "PostgresListener", "Target", "build_targets"]
