"""MariaDB's ``client_ed25519`` authentication (MariaDB "Authentication Plugin - ed25519";
plugin/auth_ed25519 in the server's source), as the client side the gateway uses upstream.

The server's AuthSwitchRequest for plugin ``client_ed25519`` carries a 32-byte random
scramble. The client answers with the 64-byte Ed25519 signature (RFC 8032 section 5.1.6) of
that scramble, made with a key derived from the password the way MariaDB derives it: where
RFC 8032 hashes a 32-byte seed, MariaDB hashes the password itself, ``h = SHA-512(password)``;
the secret scalar is ``h[:32]`` clamped, the nonce prefix is ``h[32:]``. The server stores
only the public key (base64, 43 characters, in ``mysql.global_priv``), which
:func:`password_hash` reproduces.

API: :func:`sign_scramble` (the auth response), :func:`sign`, :func:`public_key`,
:func:`password_hash`, :data:`PLUGIN_NAME`, :data:`SCRAMBLE_LENGTH`. The caller (the upstream
login, colleague A's handshake) answers an AuthSwitchRequest naming :data:`PLUGIN_NAME` with
``sign_scramble(password, switch_data)``; the password is never sent or logged.

Why pure Python on ``hashlib`` and integers, not PyNaCl: no new binary dependency for one
signature per upstream login (PyNaCl's libsodium bindings are what PyMySQL uses; the
``cryptography`` package we already have cannot take a password-derived hash as a key). The cost
is about 4 ms per login on this machine (two scalar multiplications). Python integers are not
constant time, so the computation's duration depends on the password-derived scalar; it runs
once per upstream login, inside the gateway, and the held password never leaves it. The ladder
below does the same point operations for every bit, which removes the coarse (per-bit) leak but
not the big-integer one; a deployment that wants constant-time arithmetic should hold a
mysql_native_password or caching_sha2_password credential for the upstream instead."""

from __future__ import annotations

import base64
import hashlib

from gateway.mysql.wire.errors import MalformedPacket

__all__ = [
    "PLUGIN_NAME",
    "SCRAMBLE_LENGTH",
    "password_hash",
    "public_key",
    "sign",
    "sign_scramble",
]

PLUGIN_NAME = "client_ed25519"
SCRAMBLE_LENGTH = 32  # the server's nonce (auth_ed25519: NONCE_BYTES)

# Curve25519 in twisted Edwards form (RFC 8032 section 5.1): the field prime, the group order
# L, the curve constant d and the base point B in extended coordinates (X, Y, Z, T).
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202

_Point = tuple[int, int, int, int]
_BASE: _Point = (_BX, _BY, 1, _BX * _BY % _P)
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    """Point addition, RFC 8032 section 5.1.4 (complete for this curve: also doubles)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int) -> _Point:
    """``scalar`` times the base point: a Montgomery ladder over 256 bits, one addition and
    one doubling per bit whatever its value."""
    r0, r1 = _IDENTITY, _BASE
    for i in reversed(range(256)):
        if (scalar >> i) & 1:
            r0, r1 = _add(r0, r1), _add(r1, r1)
        else:
            r1, r0 = _add(r0, r1), _add(r0, r0)
    return r0


def _encode(point: _Point) -> bytes:
    """RFC 8032 section 5.1.2: y in little-endian, the low bit of x in the top bit."""
    x, y, z, _t = point
    z_inv = pow(z, _P - 2, _P)
    x, y = x * z_inv % _P, y * z_inv % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _expand(password: bytes) -> tuple[int, bytes]:
    """The secret scalar (h[:32] clamped, RFC 8032 section 5.1.5) and the nonce prefix."""
    digest = hashlib.sha512(password).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    return scalar, digest[32:]


def _hash_int(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % _L


def public_key(password: bytes) -> bytes:
    """The 32-byte Ed25519 public key MariaDB derives from ``password``."""
    return _encode(_multiply(_expand(password)[0]))


def password_hash(password: bytes) -> str:
    """What ``PASSWORD()`` stores for an ed25519 account: the public key in base64, unpadded."""
    return base64.b64encode(public_key(password)).decode().rstrip("=")


def sign(password: bytes, message: bytes) -> bytes:
    """The 64-byte signature R || S of ``message`` (RFC 8032 section 5.1.6) with the key MariaDB
    derives from ``password`` (for a 32-byte password: RFC 8032's key of that seed)."""
    scalar, prefix = _expand(password)
    key = _encode(_multiply(scalar))
    nonce = _hash_int(prefix, message)
    r = _encode(_multiply(nonce))
    s = (nonce + _hash_int(r, key, message) * scalar) % _L
    return r + s.to_bytes(32, "little")


def sign_scramble(password: bytes, scramble: bytes) -> bytes:
    """The ``client_ed25519`` auth response: the signature of the server's 32-byte scramble
    (any other length is a malformed AuthSwitchRequest)."""
    if len(scramble) != SCRAMBLE_LENGTH:
        raise MalformedPacket(f"an ed25519 scramble has 32 bytes, not {len(scramble)}")
    return sign(password, scramble)
