"""The client start-up without a network: who may speak plaintext, and the refusal path."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gateway.postgres import wire as pg
from gateway.postgres.accept import Refused, accept_client
from gateway.sessions import is_loopback
from tests.gateway.postgres.support import startup_packet


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (("127.0.0.1", 5000), True),
        (("127.8.9.10", 5000), True),
        (("::1", 5000, 0, 0), True),
        (("::ffff:127.0.0.1", 5000, 0, 0), True),
        (("10.1.2.3", 5000), False),
        (("::ffff:10.1.2.3", 5000, 0, 0), False),
        (("2001:db8::1", 5000, 0, 0), False),
        (("fe80::1%eth0", 5000, 0, 2), False),
        ("", True),
        (None, False),
    ],
)
def test_is_loopback(peer: object, expected: bool) -> None:
    """Loopback (IPv4, IPv6, IPv4-mapped, a Unix socket) may speak plaintext; others not."""
    assert is_loopback(peer) is expected


class _Writer:
    """Just enough of a StreamWriter for accept_client, with a chosen peer address."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer, self.written = peer, bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        return None

    def get_extra_info(self, name: str) -> Any:
        return self.peer if name == "peername" else None


async def _accept(peer: tuple[str, int], allow_plaintext: bool) -> _Writer:
    reader = asyncio.StreamReader()
    reader.feed_data(startup_packet({"user": "alice", "database": "pg-test"}))
    reader.feed_data(pg.encode(pg.PasswordMessage("token")))
    reader.feed_eof()
    writer = _Writer(peer)

    async def refuse(*_: object) -> Any:
        raise Refused("28P01", "checked after the TLS rule")

    await accept_client(
        reader,
        cast(asyncio.StreamWriter, writer),
        targets={
            "pg-test": cast(
                Any, SimpleNamespace(config=SimpleNamespace(name="pg-test", database=None))
            )
        },
        tls=None,
        allow_plaintext=allow_plaintext,
        authenticate=refuse,
        authorize=refuse,
        cancel=refuse,
    )
    return writer


async def test_plaintext_from_other_host_refused() -> None:
    """A plaintext start-up from a non-loopback address is refused with 28000 before any
    password is asked for."""
    with pytest.raises(Refused) as refused:
        await _accept(("10.1.2.3", 5000), allow_plaintext=False)
    assert refused.value.sqlstate == "28000"


async def test_plaintext_from_other_host_when_allowed() -> None:
    """With [listeners] allow_plaintext = true the start-up goes on to authentication."""
    with pytest.raises(Refused) as refused:
        await _accept(("10.1.2.3", 5000), allow_plaintext=True)
    assert refused.value.sqlstate == "28P01"
