"""The composition root names the connections no listener serves, one line each."""

from __future__ import annotations

from gateway.cli.listeners import unserved_lines
from gateway.config import ConnectionConfig, ListenerSettings, Settings


def _conn(name: str, kind: str) -> ConnectionConfig:
    return ConnectionConfig(name=name, type=kind, upstream="127.0.0.1:5432")


def test_connections_of_a_type_without_a_listener_are_named() -> None:
    """A mysql and an ssh connection get a line each; the postgres one is served."""
    connections = [_conn("pg-x", "postgres"), _conn("my-x", "mysql"), _conn("ssh-x", "ssh")]
    assert unserved_lines(Settings(connections=connections)) == [
        "airlock: connection my-x (mysql) is not served: no mysql listener",
        "airlock: connection ssh-x (ssh) is not served: no ssh listener",
    ]


def test_a_listener_without_an_address_serves_nothing() -> None:
    """With [listeners] postgres empty, a postgres connection is named too."""
    settings = Settings(
        connections=[_conn("pg-x", "postgres")], listeners=ListenerSettings(postgres="")
    )
    assert unserved_lines(settings) == [
        "airlock: connection pg-x (postgres) is not served: no postgres listener"
    ]
