"""A connection that names no connection: the mysql client's Ctrl-C.

On Ctrl-C the mysql / mariadb CLI opens a second connection with the same user and password
but no database and sends ``KILL QUERY <id>`` ("mysql" client, ``sigint_handler``). Such a
connection is authenticated by its token like any other and then serves only that: a ``KILL
[QUERY | CONNECTION] <id>`` of one of the gateway's own sessions whose identity (the whole
chain) is the token's (``Killer``: the listener), COM_PING and COM_QUIT. Anything else is
1046 (ER_NO_DB_ERROR): nothing reaches any server without a connection, its access and its
record. The KILL's effect is recorded where it lands: a held statement's review is cancelled
by the requester (audited), a killed statement ends with the server's 1317 in its session's
record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from approvals import Identity
from gateway.mysql import wire as my
from gateway.mysql.relay import Killer
from gateway.mysql.stream import PacketStream

__all__ = ["serve_control"]

log = logging.getLogger("airlock.mysql")
NO_CONNECTION = my.Err(
    1046, "3D000", "No connection selected: name it as the database (mysql ... CONN); without "
    "one only KILL of your own sessions runs"
)  # fmt: skip


async def serve_control(
    stream: PacketStream,
    identity: Identity,
    capabilities: int,
    *,
    killer: Killer,
    kill_target: Callable[[str, Any], Any] | None,
    state: Any,
) -> None:
    """Answer the connection's commands until it quits (see the module's notes)."""
    ok = my.Ok().encode(capabilities)
    stream.write(ok)
    while True:
        stream.seq = 0
        packet = await stream.read()
        if packet is None or packet.payload[:1] in (b"", b"\x01"):
            return
        command, payload = packet.payload[0], packet.payload
        text = payload[1:].decode("utf-8", "replace")
        if command == my.Command.PING or (
            command == my.Command.QUERY and await _kill(text, identity, killer, kill_target, state)
        ):
            stream.write(ok)
        else:
            stream.write(NO_CONNECTION.encode())
        await stream.drain()


async def _kill(
    text: str,
    identity: Identity,
    killer: Killer,
    kill_target: Callable[[str, Any], Any] | None,
    state: Any,
) -> bool:
    target = kill_target(text, state) if kill_target is not None else None
    if target is None:
        return False
    live = killer.owned(identity, target)
    if live is None:
        return False
    rule = await killer.kill("connection without a connection name", live, target)
    log.info("mysql: %s from %s without a connection (%s)", text, identity.describe(), rule)
    return True
