"""Local forwarding (RFC 4254 §7.2 direct-tcpip) to a database connection, never a raw tunnel.

A forward is allowed only to a connection named in the SSH connection's ``forward_to``, asked
for by its name (``ssh -L 5433:pg-app:5432``) or by its upstream address. The forwarded stream
is handed to that protocol's listener logic (``Forward.serve``: the PostgreSQL or MySQL
listener's ``serve_tunnel``) as the SSH session's identity: its access to the database connection is
checked, and guardrails, holds, masking and audit apply inside the tunnel as for any client.
The listener logic reads asyncio streams, so the channel is bridged to it over a socket pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import asyncssh

from approvals import Identity
from gateway.ssh.context import Forward

__all__ = ["bridge", "resolve"]

_CHUNK = 1 << 16


def resolve(
    forward_to: list[str], forwards: dict[str, Forward], host: str, port: int
) -> str | None:
    """The database connection a forward to ``host:port`` reaches, if ``forward_to`` allows."""
    for name in forward_to:
        found = forwards.get(name)
        if found is not None and (host == name or f"{host}:{port}" == found.upstream):
            return name
    return None


async def bridge(
    reader: asyncssh.SSHReader[bytes],
    writer: asyncssh.SSHWriter[bytes],
    forward: Forward,
    identity: Identity,
    connection: str,
) -> None:
    """Serve one forwarded channel with ``forward`` until either side closes."""
    ours, theirs = socket.socketpair()
    local_reader, local_writer = await asyncio.open_connection(sock=ours)
    served_reader, served_writer = await asyncio.open_connection(sock=theirs)
    served = asyncio.create_task(forward.serve(served_reader, served_writer, identity, connection))
    pumps = [
        asyncio.create_task(_pump(reader, local_writer)),
        asyncio.create_task(_pump(local_reader, writer)),
    ]
    try:
        await asyncio.wait([served, *pumps], return_when=asyncio.FIRST_COMPLETED)
        await asyncio.wait(pumps, timeout=5)
    finally:
        for task in (*pumps, served):
            task.cancel()
        await asyncio.gather(*pumps, served, return_exceptions=True)
        local_writer.close()
        served_writer.close()
        with contextlib.suppress(OSError, asyncssh.Error):
            writer.close()


async def _pump(
    source: asyncio.StreamReader | asyncssh.SSHReader[bytes],
    sink: asyncio.StreamWriter | asyncssh.SSHWriter[bytes],
) -> None:
    with contextlib.suppress(OSError, asyncssh.Error):
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
        sink.write_eof()
