"""The connection phase (MySQL "Client/Server Protocol", "Connection Phase"): the server's
Protocol::HandshakeV10, the client's SSLRequest and HandshakeResponse41, AuthSwitchRequest and
AuthMoreData, and the scrambles of the password methods the gateway speaks upstream
("mysql_native_password", "caching_sha2_password"). MariaDB's 4 bytes of extended capabilities
ride in the reserved bytes when a side clears bit 0 (CLIENT_MYSQL): the gateway keeps it set,
so neither side extends anything through it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from gateway.mysql.wire.basic import Reader, write_int, write_lenenc_bytes
from gateway.mysql.wire.constants import CHARSET_UTF8MB4, Capability
from gateway.mysql.wire.errors import MalformedPacket

__all__ = [
    "AuthMoreData",
    "AuthSwitchRequest",
    "Handshake",
    "HandshakeResponse",
    "SslRequest",
    "is_ssl_request",
    "scramble_caching_sha2",
    "scramble_native",
]

C = Capability


@dataclass(frozen=True, slots=True)
class Handshake:
    """Protocol::HandshakeV10. ``scramble`` is the whole auth-plugin-data (20 bytes)."""

    server_version: bytes
    connection_id: int
    scramble: bytes
    capabilities: int
    charset: int = CHARSET_UTF8MB4
    status: int = 2
    auth_plugin: bytes = b""
    mariadb_capabilities: int = 0

    def encode(self) -> bytes:
        caps = self.capabilities
        out = b"\x0a" + self.server_version + b"\0" + write_int(self.connection_id, 4)
        out += self.scramble[:8] + b"\0" + write_int(caps & 0xFFFF, 2)
        out += write_int(self.charset, 1) + write_int(self.status, 2)
        out += write_int(caps >> 16, 2)
        out += write_int(len(self.scramble) + 1 if caps & C.PLUGIN_AUTH else 0, 1)
        out += b"\0" * 6 + write_int(self.mariadb_capabilities, 4)
        if caps & C.SECURE_CONNECTION:
            rest = self.scramble[8:]
            out += rest + b"\0" * max(13 - len(rest), 1 if len(rest) >= 13 else 0)
        if caps & C.PLUGIN_AUTH:
            out += self.auth_plugin + b"\0"
        return out

    @classmethod
    def decode(cls, payload: bytes) -> Handshake:
        r = Reader(payload)
        version = r.uint(1)
        if version != 10:
            raise MalformedPacket(f"handshake protocol version {version}, not 10")
        server_version = r.nul_bytes()
        connection_id = r.uint(4)
        part1 = r.fixed(8)
        r.fixed(1)
        caps = r.uint(2)
        charset = status = 0
        data_len, mariadb_caps, part2, plugin = 0, 0, b"", b""
        if not r.at_end():
            charset, status = r.uint(1), r.uint(2)
            caps |= r.uint(2) << 16
            data_len = r.uint(1)
            r.fixed(6)
            mariadb_caps = r.uint(4)
            if caps & C.SECURE_CONNECTION:
                part2 = r.fixed(max(13, data_len - 8))
            if caps & C.PLUGIN_AUTH and not r.at_end():
                plugin = r.rest().split(b"\0", 1)[0]
        # part 2 ends with a NUL the scramble's length (data_len - 1) leaves out
        scramble = (part1 + part2)[: max(20, data_len - 1)] if part2 else part1
        return cls(
            server_version, connection_id, scramble, caps, charset, status, plugin, mariadb_caps
        )


@dataclass(frozen=True, slots=True)
class SslRequest:
    """Protocol::SSLRequest: the first 32 bytes of a HandshakeResponse41, CLIENT_SSL set."""

    capabilities: int
    max_packet: int
    charset: int

    def encode(self) -> bytes:
        return (
            write_int(self.capabilities | C.SSL, 4)
            + write_int(self.max_packet, 4)
            + write_int(self.charset, 1)
            + b"\0" * 23
        )


def is_ssl_request(payload: bytes) -> bool:
    """Whether a client's first packet is an SSLRequest (32 bytes, CLIENT_SSL set)."""
    return len(payload) == 32 and bool(int.from_bytes(payload[:4], "little") & C.SSL)


@dataclass(frozen=True, slots=True)
class HandshakeResponse:
    """Protocol::HandshakeResponse41 (``auth_response`` as the client's plugin computed it)."""

    capabilities: int
    max_packet: int
    charset: int
    username: bytes
    auth_response: bytes
    database: bytes | None = None
    auth_plugin: bytes | None = None
    attributes: dict[bytes, bytes] = field(default_factory=dict)
    mariadb_capabilities: int = 0

    def encode(self) -> bytes:
        caps = self.capabilities
        out = write_int(caps, 4) + write_int(self.max_packet, 4) + write_int(self.charset, 1)
        out += b"\0" * 19 + write_int(self.mariadb_capabilities, 4)
        out += self.username + b"\0"
        if caps & C.PLUGIN_AUTH_LENENC_CLIENT_DATA:
            out += write_lenenc_bytes(self.auth_response)
        else:
            out += write_int(len(self.auth_response), 1) + self.auth_response
        if caps & C.CONNECT_WITH_DB:
            out += (self.database or b"") + b"\0"
        if caps & C.PLUGIN_AUTH:
            out += (self.auth_plugin or b"") + b"\0"
        if caps & C.CONNECT_ATTRS:
            attrs = b"".join(
                write_lenenc_bytes(k) + write_lenenc_bytes(v) for k, v in self.attributes.items()
            )
            out += write_lenenc_bytes(attrs)
        return out

    @classmethod
    def decode(cls, payload: bytes) -> HandshakeResponse:
        r = Reader(payload)
        caps = r.uint(4)
        if not caps & C.PROTOCOL_41:
            raise MalformedPacket("only the 4.1 handshake response is supported")
        max_packet, charset = r.uint(4), r.uint(1)
        r.fixed(19)
        mariadb_caps = r.uint(4)
        username = r.nul_bytes()
        if caps & C.PLUGIN_AUTH_LENENC_CLIENT_DATA:
            auth = r.lenenc_bytes() or b""
        elif caps & C.SECURE_CONNECTION:
            auth = r.fixed(r.uint(1))
        else:
            auth = r.nul_bytes()
        database = plugin = None
        if caps & C.CONNECT_WITH_DB and not r.at_end():
            database = r.nul_bytes()
        if caps & C.PLUGIN_AUTH and not r.at_end():
            plugin = r.nul_bytes()
        attributes: dict[bytes, bytes] = {}
        if caps & C.CONNECT_ATTRS and not r.at_end():
            block = Reader(r.lenenc_bytes() or b"")
            while not block.at_end():
                key, value = block.lenenc_bytes(), block.lenenc_bytes()
                attributes[key or b""] = value or b""
        return cls(
            caps, max_packet, charset, username, auth, database, plugin, attributes, mariadb_caps
        )


@dataclass(frozen=True, slots=True)
class AuthSwitchRequest:
    """0xFE, the plugin to switch to, its data ("Protocol::AuthSwitchRequest")."""

    plugin: bytes
    data: bytes

    def encode(self) -> bytes:
        return b"\xfe" + self.plugin + b"\0" + self.data

    @classmethod
    def decode(cls, payload: bytes) -> AuthSwitchRequest:
        r = Reader(payload)
        if r.uint(1) != 0xFE:
            raise MalformedPacket("an AuthSwitchRequest starts with 0xfe")
        return cls(r.nul_bytes(), r.rest())


@dataclass(frozen=True, slots=True)
class AuthMoreData:
    """0x01 and the plugin's data ("Protocol::AuthMoreData"): caching_sha2_password's 0x03
    (fast auth succeeded) and 0x04 (perform full authentication)."""

    data: bytes

    def encode(self) -> bytes:
        return b"\x01" + self.data

    @classmethod
    def decode(cls, payload: bytes) -> AuthMoreData:
        if payload[:1] != b"\x01":
            raise MalformedPacket("an AuthMoreData starts with 0x01")
        return cls(payload[1:])


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def scramble_native(password: bytes, scramble: bytes) -> bytes:
    """mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); empty for none."""
    if not password:
        return b""
    # The protocol's own construction (not a password store): SHA-1 is what the server checks.
    stage1 = hashlib.sha1(password, usedforsecurity=False).digest()
    stage2 = hashlib.sha1(stage1, usedforsecurity=False).digest()
    return _xor(stage1, hashlib.sha1(scramble[:20] + stage2, usedforsecurity=False).digest())


def scramble_caching_sha2(password: bytes, scramble: bytes) -> bytes:
    """caching_sha2_password's fast path: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)."""
    if not password:
        return b""
    p1 = hashlib.sha256(password).digest()
    p2 = hashlib.sha256(p1).digest()
    return _xor(p1, hashlib.sha256(p2 + scramble[:20]).digest())
