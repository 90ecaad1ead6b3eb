"""Random bytes and cut packets at the MySQL port close that one connection, never the
listener: before the handshake response, and inside a logged-in session (Hypothesis).

The gateway runs in a thread of its own (its own event loop), so that Hypothesis drives it
with blocking sockets from the test's thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.mysql import wire as my
from tests.gateway.mysql.support import CLIENT_CAPABILITIES, mysql_env

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Running:
    port: int
    token: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A gateway with a MySQL listener, served by a thread's event loop until the module ends."""
    ready: list[Running] = []
    started, stop = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def main(directory: Path) -> None:
        async with mysql_env(directory) as env:
            ready.append(Running(env.port, env.token))
            started.set()
            await asyncio.to_thread(stop.wait)

    def run() -> None:
        try:
            asyncio.run(main(tmp_path_factory.mktemp("mysql-fuzz")))
        except BaseException as exc:
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(60), "the gateway did not start"
    if failed:
        raise failed[0]
    yield ready[0]
    stop.set()
    thread.join(60)


def _packet(sock: socket.socket) -> bytes:
    header = _exactly(sock, 4)
    return _exactly(sock, int.from_bytes(header[:3], "little"))


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    my.Handshake.decode(_packet(sock))
    return sock


def _login(port: int, token: str) -> socket.socket:
    sock = _connect(port)
    response = my.HandshakeResponse(
        CLIENT_CAPABILITIES, 1 << 24, 45, b"alice", token.encode(), b"my-test",
        b"mysql_clear_password",
    )  # fmt: skip
    sock.sendall(my.encode_packet(response.encode(), 1))
    assert _packet(sock)[:1] == b"\x00"
    return sock


def _drain_until_closed(sock: socket.socket) -> None:
    """Read until the gateway closes the connection or stays quiet for a second."""
    sock.settimeout(1)
    try:
        while sock.recv(65536):
            pass
    except (TimeoutError, OSError):
        pass
    finally:
        sock.close()


def _serving(running: Running) -> None:
    sock = _login(running.port, running.token)
    try:
        sock.sendall(my.encode_packet(b"\x03SELECT 'serving'", 0))
        packets = [_packet(sock) for _ in range(3)]
        assert packets[2] == my.encode_text_row([b"serving"])
    finally:
        sock.close()


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_before_login(gateway: Running, data: bytes) -> None:
    """Any bytes in place of the handshake response end that connection only."""
    sock = _connect(gateway.port)
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    _drain_until_closed(sock)
    _connect(gateway.port).close()


@FUZZ
@given(st.binary(min_size=1, max_size=200), st.integers(0, 255))
def test_random_packets_in_a_session(gateway: Running, payload: bytes, seq: int) -> None:
    """A random command packet (any sequence id) in a logged-in session ends at most that
    session; the listener goes on serving."""
    if payload[0] in (my.Command.QUERY, my.Command.INIT_DB, my.Command.FIELD_LIST):
        payload = b"\x0e" + payload[1:]  # statements are the rules' business, not this test's
    sock = _login(gateway.port, gateway.token)
    sock.sendall(my.encode_packet(payload, seq))
    _drain_until_closed(sock)


@FUZZ
@given(st.binary(min_size=1, max_size=60), st.integers(0, 30))
def test_cut_packets(gateway: Running, payload: bytes, cut: int) -> None:
    """A packet cut anywhere, then the client gone, leaves the listener serving."""
    sock = _login(gateway.port, gateway.token)
    sock.sendall(my.encode_packet(b"\x03" + payload, 0)[:cut])
    sock.close()


def test_serving_after_the_fuzz(gateway: Running) -> None:
    """After all of the above the listener still answers a query."""
    _serving(gateway)
