"""TLS termination: bytes sent after SSLRequest before the handshake are never processed
(CVE-2021-23214 class); psql sslmode=require works; loopback may still speak plaintext."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.gateway.postgres.support import Env, gateway_env, psql, startup_packet

pytestmark = pytest.mark.asyncio(loop_scope="module")
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "gateway.crt", directory / "gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    options = {"tls_cert": str(cert), "tls_key": str(key)}
    async with gateway_env(directory, listener_options=options) as env:
        yield env


async def test_psql_sslmode_require(env: Env) -> None:
    """psql with sslmode=require gets a TLS session and runs queries."""
    code, out, err = await psql(
        env.port, env.token, script="\\conninfo\nSELECT 40 + 2;\n", env={"PGSSLMODE": "require"}
    )
    assert code == 0, err
    assert "SSL connection (protocol: TLSv1." in out and out.rstrip().endswith("42")


async def test_plaintext_on_loopback(env: Env) -> None:
    """Without TLS, a loopback client is still served (sslmode=disable)."""
    code, out, err = await env.psql("SELECT 1")
    assert (code, out.strip()) == (0, "1"), err


async def test_bytes_after_ssl_request_are_refused(env: Env) -> None:
    """A StartupMessage sent in clear right behind SSLRequest is refused, never processed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.write(SSL_REQUEST + startup_packet({"user": "alice", "database": "pg-test"}))
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data[:1] == b"E" and b"08P01" in data and b"unencrypted data" in data
    assert b"R\x00\x00\x00" not in data  # no authentication request: the startup was not read


async def test_plaintext_instead_of_handshake(env: Env) -> None:
    """After 'S', a plaintext StartupMessage is not a TLS handshake: the connection ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", env.port)
    writer.write(SSL_REQUEST)
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"S"
    writer.write(startup_packet({"user": "alice", "database": "pg-test"}))
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert not data.startswith(b"R")


async def test_gateway_serves_after_refusals(env: Env) -> None:
    """The refused connections above did not affect the listener."""
    code, out, err = await psql(
        env.port, env.token, "SELECT 'still serving'", env={"PGSSLMODE": "require"}
    )
    assert (code, out.strip()) == (0, "still serving"), err
