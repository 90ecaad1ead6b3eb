"""Talking to the real PostgreSQL at 127.0.0.1:5432 over a socket, and a recording relay.

Test support only: the codec itself stays sans-IO.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.postgres.wire import (
    NEED_DATA,
    BackendKeyData,
    BackendMessage,
    FrontendMessage,
    ReadyForQuery,
    ServerParser,
    StartupMessage,
    UpstreamAuth,
    encode,
)

PG = ("127.0.0.1", 5432)
TIMEOUT = 10.0


class PgConnection:
    """A raw protocol connection: encode() out, ServerParser in."""

    def __init__(self) -> None:
        self.sock = socket.create_connection(PG, timeout=TIMEOUT)
        self.parser = ServerParser()
        self.key: BackendKeyData | None = None

    def send(self, *messages: FrontendMessage) -> None:
        """Write the messages in one send."""
        self.sock.sendall(b"".join(map(encode, messages)))

    def read(self) -> BackendMessage:
        """The next backend message, reading from the socket as needed."""
        while (event := self.parser.next_event()) is NEED_DATA:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.parser.receive_data(data)
        return event

    def read_until_ready(self) -> list[BackendMessage]:
        """Messages up to and including ReadyForQuery."""
        out = [self.read()]
        while not isinstance(out[-1], ReadyForQuery):
            out.append(self.read())
        return out

    def login(self, user: str = "postgres") -> list[BackendMessage]:
        """StartupMessage, UpstreamAuth until done, then messages up to ReadyForQuery."""
        params = {"user": user, "database": "postgres", "application_name": "pgwire-test"}
        self.send(StartupMessage(params))
        auth = UpstreamAuth(user, "unused")
        while not auth.done:
            reply = auth.handle(self.read())
            if reply is not None:
                self.send(reply)
        rest = self.read_until_ready()
        self.key = next(m for m in rest if isinstance(m, BackendKeyData))
        return rest

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def _pump(client: socket.socket, record: list[bytearray]) -> None:
    """Relay one client connection to PostgreSQL, recording both directions."""
    server = socket.create_connection(PG, timeout=TIMEOUT)
    to_server, to_client = bytearray(), bytearray()
    record.extend([to_server, to_client])
    peers = {client: (server, to_server), server: (client, to_client)}
    try:
        while True:
            readable, _, _ = select.select(list(peers), [], [], TIMEOUT)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                other, log = peers[sock]
                log += data
                other.sendall(data)
    finally:
        server.close()
        client.close()


@contextmanager
def recording_relay() -> Iterator[tuple[int, list[bytearray]]]:
    """A TCP relay to PostgreSQL on a free port; yields (port, [c2s, s2c, c2s, s2c, ...])."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    record: list[bytearray] = []
    threads: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(TIMEOUT)
            thread = threading.Thread(target=_pump, args=(client, record), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1], record
    finally:
        stop.set()
        acceptor.join(TIMEOUT)
        listener.close()
        for thread in threads:
            thread.join(TIMEOUT)
