"""MariaDB's client_ed25519 signer: RFC 8032's test vectors, signatures that the
``cryptography`` package verifies for any password, the public key MariaDB stores, and a real
login to the MariaDB on this machine over a raw socket."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from gateway.mysql.wire import MalformedPacket
from gateway.mysql.wire.ed25519 import (
    PLUGIN_NAME,
    SCRAMBLE_LENGTH,
    password_hash,
    public_key,
    sign,
    sign_scramble,
)
from tests.conftest import ensure_ed25519, maria_admin
from tests.gateway.mysql.rawmysql import RawMySQL, ServerError

# RFC 8032 section 7.1, TESTS 1 to 3: (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    """A 32-byte password is an RFC 8032 seed: the vectors' keys and signatures come out."""
    seed = bytes.fromhex(secret)
    assert public_key(seed).hex() == public
    assert sign(seed, bytes.fromhex(message)).hex() == signature
    assert (
        Ed25519PrivateKey.from_private_bytes(seed).sign(bytes.fromhex(message)).hex() == signature
    )


@given(st.binary(max_size=80), st.binary(min_size=32, max_size=32))
def test_signatures_verify_for_any_password(password: bytes, scramble: bytes) -> None:
    """For any password the signature verifies under cryptography's own Ed25519."""
    signature = sign_scramble(password, scramble)
    assert len(signature) == 64
    Ed25519PublicKey.from_public_bytes(public_key(password)).verify(signature, scramble)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_seed_passwords_match_cryptography(seed: bytes, scramble: bytes) -> None:
    """With a 32-byte password the signature is byte for byte cryptography's (deterministic)."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert sign_scramble(seed, scramble) == key.sign(scramble)
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public_key(seed) == raw


def test_scramble_must_be_32_bytes() -> None:
    """A scramble of any other length is a malformed AuthSwitchRequest."""
    assert PLUGIN_NAME == "client_ed25519"
    for length in (0, 31, 33):
        with pytest.raises(MalformedPacket):
            sign_scramble(b"secret", bytes(length))


def test_signing_cost() -> None:
    """One signature (one upstream login) stays in the milliseconds in pure Python."""
    started = time.perf_counter()
    for _ in range(10):
        sign_scramble(b"a held upstream password", bytes(SCRAMBLE_LENGTH))
    assert (time.perf_counter() - started) / 10 < 0.05


@pytest.fixture
def ed25519_user() -> Iterator[tuple[str, bytes]]:
    """A MariaDB account identified via ed25519 (name, password), dropped after the test."""
    ensure_ed25519()
    name, password = f"airlock_ed_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                f"CREATE USER '{name}'@'%%' IDENTIFIED VIA ed25519 USING PASSWORD(%s)", (password,)
            )
        yield name, password.encode()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        admin.close()


def _stored_key(name: str) -> str:
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT JSON_VALUE(priv, '$.plugin'), JSON_VALUE(priv, '$.authentication_string')"
                " FROM mysql.global_priv WHERE user = %s",
                (name,),
            )
            row = cursor.fetchone()
    finally:
        admin.close()
    assert row is not None
    assert row[0] == "ed25519"
    return str(row[1])


async def test_login_to_mariadb(ed25519_user: tuple[str, bytes]) -> None:
    """MariaDB stores our public key, accepts our signature, refuses a wrong one (1045)."""
    name, password = ed25519_user
    assert _stored_key(name) == password_hash(password)
    seen: list[tuple[str, int]] = []

    def answer_with(secret: bytes) -> Callable[[str, bytes], bytes]:
        def answer(plugin: str, scramble: bytes) -> bytes:
            seen.append((plugin, len(scramble)))
            if plugin != PLUGIN_NAME:
                return b""  # the handshake's default plugin: the server then switches
            return sign_scramble(secret, scramble)

        return answer

    conn = await RawMySQL.connect(name, b"", auth=answer_with(password))
    _columns, rows = await conn.query("SELECT CURRENT_USER()")
    await conn.close()
    assert rows == [[f"{name}@%".encode()]]
    assert (PLUGIN_NAME, SCRAMBLE_LENGTH) in seen
    with pytest.raises(ServerError) as refused:
        await RawMySQL.connect(name, b"", auth=answer_with(password + b"x"))
    assert refused.value.code == 1045
