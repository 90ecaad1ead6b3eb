"""A stand-in for a MySQL 8 server's connection phase, which cannot run on this machine (only
MariaDB does, without TLS): TLS when the client asks (``tls``), and ``caching_sha2_password``
with its fast path (the scramble checked against the password) or its full authentication
(``full``): the password in clear inside TLS, else through the server's RSA key, as MySQL 8
documents them ("caching_sha2_password", "Authentication Exchanges"). After the login it
answers a SELECT with one text row and anything else with OK, so a session can run. It speaks
through the gateway's own PacketStream (its TLS on memory BIOs)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.mysql import wire as my
from gateway.mysql.channel import StreamChannel
from gateway.mysql.stream import PacketStream

__all__ = ["FakeMySQL8", "fake_mysql8"]

C = my.Capability
CAPS = (
    C.LONG_PASSWORD | C.FOUND_ROWS | C.LONG_FLAG | C.CONNECT_WITH_DB | C.PROTOCOL_41
    | C.TRANSACTIONS | C.SECURE_CONNECTION | C.MULTI_STATEMENTS | C.MULTI_RESULTS
    | C.PS_MULTI_RESULTS | C.PLUGIN_AUTH | C.CONNECT_ATTRS | C.PLUGIN_AUTH_LENENC_CLIENT_DATA
    | C.SESSION_TRACK | C.DEPRECATE_EOF
)  # fmt: skip
SCRAMBLE = b"0123456789abcdefghij"


@dataclass
class FakeMySQL8:
    password: bytes
    full: bool  # ask for full authentication (as MySQL 8 does when its cache is cold)
    tls: ssl.SSLContext | None = None
    port: int = 0
    logins: list[str] = field(default_factory=list)  # fast, rsa, clear-in-tls, refused
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = PacketStream(StreamChannel(reader, writer))
        caps = CAPS | (C.SSL if self.tls is not None else 0)
        try:
            greeting = my.Handshake(
                b"8.0.40", 11, SCRAMBLE, caps, auth_plugin=b"caching_sha2_password"
            )
            stream.write(greeting.encode())
            first = await stream.expect()
            if my.is_ssl_request(first.payload) and self.tls is not None:
                await stream.start_tls(self.tls)
                first = await stream.expect()
            response = my.HandshakeResponse.decode(first.payload)
            if await self._login(response, stream):
                stream.write(my.Ok().encode(response.capabilities))
                await self._commands(response.capabilities, stream)
        except (ConnectionError, my.MyWireError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await stream.drain()
            writer.close()

    async def _login(self, response: my.HandshakeResponse, stream: PacketStream) -> bool:
        expected = my.scramble_caching_sha2(self.password, SCRAMBLE)
        if not self.full and response.auth_response == expected:
            stream.write(b"\x01\x03")  # fast authentication succeeded
            self.logins.append("fast")
            return True
        stream.write(b"\x01\x04")  # perform full authentication
        answer = (await stream.expect()).payload
        if stream.encrypted:
            clear, how = answer, "clear-in-tls"
        elif answer == b"\x02":  # no TLS: the client asks for the public key
            pem = self.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            stream.write(b"\x01" + pem)
            sha1 = hashes.SHA1()
            mixed = self.key.decrypt(
                (await stream.expect()).payload, padding.OAEP(padding.MGF1(sha1), sha1, None)
            )
            clear = bytes(b ^ SCRAMBLE[i % len(SCRAMBLE)] for i, b in enumerate(mixed))
            how = "rsa"
        else:
            clear, how = b"", "refused"
        if clear != self.password + b"\0":
            stream.write(my.Err(1045, "28000", "Access denied").encode())
            self.logins.append("refused")
            return False
        self.logins.append(how)
        return True

    async def _commands(self, caps: int, stream: PacketStream) -> None:
        column = my.ColumnDefinition(b"", b"", b"", b"v", b"", 45, 80, 253).encode()
        deprecate = caps & C.DEPRECATE_EOF
        eof = my.Eof().encode()
        while True:
            stream.seq = 0
            payload = (await stream.expect()).payload
            if payload[:1] == b"\x01":
                return
            if not payload[1:].upper().startswith(b"SELECT"):
                stream.write(my.Ok().encode(caps))  # SET NAMES, SET AUTOCOMMIT, ...
                continue
            value = b"STRICT_TRANS_TABLES" if b"sql_mode" in payload else b"fake8"
            stream.write(b"\x01")
            stream.write(column)
            if not deprecate:
                stream.write(eof)
            stream.write(my.encode_text_row([value]))
            stream.write(my.Ok(header=0xFE).encode(caps) if deprecate else eof)


@contextlib.asynccontextmanager
async def fake_mysql8(
    password: bytes, *, full: bool, tls: ssl.SSLContext | None = None
) -> AsyncIterator[FakeMySQL8]:
    fake = FakeMySQL8(password, full, tls)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    fake.port = int(server.sockets[0].getsockname()[1])
    try:
        yield fake
    finally:
        server.close()
        await server.wait_closed()
