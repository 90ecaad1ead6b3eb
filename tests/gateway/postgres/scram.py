"""Checking a role's password upstream without logging in (the test cluster trusts local
connections): its SCRAM-SHA-256 verifier in pg_authid against the password (RFC 7677)."""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["scram_matches"]


def scram_matches(verifier: str | None, password: str) -> bool:
    """Whether ``verifier`` (``SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey``) is of
    ``password``: StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key"))."""
    if verifier is None or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    params, keys = verifier.removeprefix("SCRAM-SHA-256$").split("$")
    iterations, salt = params.split(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(stored, keys.split(":")[0])
