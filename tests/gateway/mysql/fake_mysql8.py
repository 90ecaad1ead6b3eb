"""A stand-in for a MySQL 8 server's connection phase, which cannot run on this machine (only
MariaDB does): ``caching_sha2_password`` with its fast path (the scramble checked against the
password) or its full authentication through the server's RSA key (the password decrypted and
compared), as MySQL 8 documents them ("caching_sha2_password", "Authentication Exchanges").
After the login it answers a SELECT with one text row and anything else with OK, so a session
can run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.mysql import wire as my

__all__ = ["FakeMySQL8", "fake_mysql8"]

C = my.Capability
CAPS = (
    C.LONG_PASSWORD | C.FOUND_ROWS | C.LONG_FLAG | C.CONNECT_WITH_DB | C.PROTOCOL_41
    | C.TRANSACTIONS | C.SECURE_CONNECTION | C.MULTI_STATEMENTS | C.MULTI_RESULTS
    | C.PS_MULTI_RESULTS | C.PLUGIN_AUTH | C.CONNECT_ATTRS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA
    | C.SESSION_TRACK | C.DEPRECATE_EOF
)  # fmt: skip
SCRAMBLE = b"0123456789abcdefghij"
Send = Callable[[bytes], None]
Read = Callable[[], Awaitable[bytes]]


@dataclass
class FakeMySQL8:
    password: bytes
    full: bool  # ask for full authentication (as MySQL 8 does when its cache is cold)
    port: int = 0
    logins: list[str] = field(default_factory=list)  # "fast" / "rsa" / "refused"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream_seq = [0]

        def send(payload: bytes) -> None:
            writer.write(my.encode_packet(payload, stream_seq[0]))
            stream_seq[0] += 1

        packets = my.PacketReader()

        async def read() -> bytes:
            while isinstance(packet := packets.next_packet(), my.NeedData):
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError
                packets.receive_data(data)
            stream_seq[0] = packet.next_seq
            return packet.payload

        try:
            send(
                my.Handshake(
                    b"8.0.40", 11, SCRAMBLE, CAPS, auth_plugin=b"caching_sha2_password"
                ).encode()
            )
            response = my.HandshakeResponse.decode(await read())
            if await self._login(response, send, read, writer):
                send(my.Ok().encode(response.capabilities))
                await self._commands(response.capabilities, send, read, writer, stream_seq)
        except (ConnectionError, my.MyWireError):
            pass
        finally:
            writer.close()

    async def _login(
        self, response: my.HandshakeResponse, send: Send, read: Read, writer: asyncio.StreamWriter
    ) -> bool:
        expected = my.scramble_caching_sha2(self.password, SCRAMBLE)
        if not self.full and response.auth_response == expected:
            send(b"\x01\x03")  # fast authentication succeeded
            self.logins.append("fast")
            return True
        send(b"\x01\x04")  # perform full authentication
        await writer.drain()
        if await read() != b"\x02":  # the gateway has no TLS: it asks for the public key
            self.logins.append("refused")
            return False
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        send(b"\x01" + pem)
        await writer.drain()
        sha1 = hashes.SHA1()
        mixed = self.key.decrypt(await read(), padding.OAEP(padding.MGF1(sha1), sha1, None))
        clear = bytes(b ^ SCRAMBLE[i % len(SCRAMBLE)] for i, b in enumerate(mixed))
        if clear != self.password + b"\0":
            send(my.Err(1045, "28000", "Access denied").encode())
            self.logins.append("refused")
            return False
        self.logins.append("rsa")
        return True

    async def _commands(
        self, caps: int, send: Send, read: Read, writer: asyncio.StreamWriter, seq: list[int]
    ) -> None:
        column = my.ColumnDefinition(b"", b"", b"", b"v", b"", 45, 80, 253).encode()
        while True:
            await writer.drain()
            payload = await read()
            if payload[:1] == b"\x01":
                return
            seq[0] = 1
            if not payload[1:].upper().startswith(b"SELECT"):
                send(my.Ok().encode(caps))  # SET NAMES, SET AUTOCOMMIT, ...
                continue
            value = b"STRICT_TRANS_TABLES" if b"sql_mode" in payload else b"fake8"
            deprecate = caps & C.DEPRECATE_EOF
            eof = my.Eof().encode()
            send(b"\x01")
            send(column)
            if not deprecate:
                send(eof)
            send(my.encode_text_row([value]))
            send(my.Ok(header=0xFE).encode(caps) if deprecate else eof)


@contextlib.asynccontextmanager
async def fake_mysql8(password: bytes, *, full: bool) -> AsyncIterator[FakeMySQL8]:
    fake = FakeMySQL8(password, full)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    fake.port = int(server.sockets[0].getsockname()[1])
    try:
        yield fake
    finally:
        server.close()
        await server.wait_closed()
