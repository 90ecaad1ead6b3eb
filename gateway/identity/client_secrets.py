"""Service-account secrets: generated here, shown once, stored only as a salted scrypt hash.

Format of a stored hash: ``scrypt$<n>$<r>$<p>$<salt, base64url>$<hash, base64url>`` (RFC 7914
parameters; a 16-byte random salt per secret). Comparison is constant-time. A secret is
``alk_`` + 32 random bytes (base64url), so it is recognisable in a leaked log and long enough that
the hash's cost only matters against guessing online. That cost (about 50 ms of CPU per attempt,
run off the event loop) is itself what a flood would spend: the token endpoint runs it only
within a failure budget and a bound on concurrent scrypts (:mod:`gateway.identity.throttle`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["check_secret", "hash_secret", "new_secret"]

PREFIX = "alk_"
N, R, P = 2**14, 8, 1
_DUMMY = f"scrypt${N}${R}${P}${'A' * 22}${'A' * 43}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(secret, salt, N, R, P))}"


def check_secret(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` matches ``stored``; with ``stored`` None the same work is done
    against a dummy hash (an unknown client id takes as long as a wrong secret)."""
    try:
        scheme, n, r, p, salt, digest = (stored or _DUMMY).split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(secret, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(derived, _unb64(digest)) and stored is not None
