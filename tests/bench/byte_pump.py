"""A bare asyncio byte pump: the ceiling of any Python (uvloop) relay on this machine.

Run:  .venv/bin/python tests/bench/byte_pump.py LISTEN_PORT [UPSTREAM_HOST:PORT]
(not a test; pg_bench.py --pump starts it as a fourth target).

It forwards bytes both ways between each client and a new connection to the upstream, in the
read callback, with no parsing, inspection, audit or masking: exactly the event-loop and socket
work a relay cannot avoid. What Airlock adds beyond this is its own Python; what this adds
beyond PgBouncer is the cost of Python and uvloop themselves.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import cast

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency of the gateway
    uvloop = None  # type: ignore[assignment]


class _Side(asyncio.Protocol):
    def __init__(self) -> None:
        self.peer: _Side | None = None
        self.transport: asyncio.Transport | None = None
        self.early: list[bytes] = []  # bytes from the client before the upstream connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.early.append(data)
        else:
            peer.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class _Client(_Side):
    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__()
        self.upstream = upstream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, server = await loop.create_connection(_Side, *self.upstream)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        server.peer, self.peer = self, server
        for data in self.early:
            transport.write(data)
        self.early.clear()
        # A server that speaks first (MySQL's greeting) may have been read before its peer
        # was set.
        if self.transport is not None:
            for data in server.early:
                self.transport.write(data)
        server.early.clear()


async def serve(port: int, upstream: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Client(upstream), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    port = int(argv[0])
    host, _, up_port = (argv[1] if len(argv) > 1 else "127.0.0.1:5432").rpartition(":")
    run = uvloop.run if uvloop is not None else asyncio.run
    run(serve(port, (host, int(up_port))))


if __name__ == "__main__":
    main(sys.argv[1:])
