"""Errors of the gateway's own edges (configuration, tokens, the HTTP API)::

    GatewayError
    ├── ConfigError          a configuration file or variable is wrong (the process stops)
    ├── UsageError           a command-line argument is wrong (``airlock`` exits 2)
    ├── AuthError            a credential was refused            sqlstate 28P01, HTTP 401
    │   └── TokenInvalid     a token's signature, audience, issuer or lifetime is wrong
    ├── OAuthError           an /oauth/token request is refused: RFC 6749 section 5.2's
    │                        ``error`` (invalid_client, invalid_grant, invalid_scope, ...)
    └── ReplicaReaped        another replica reaped this process (its heartbeat was too old):
                             its sessions and reviews are ended in the store, so it stops

Domain errors (approvals.errors) cross the edges as they are; each edge maps them to its answer
(an HTTP status and JSON ``code``, a SQLSTATE).
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "GatewayError",
    "OAuthError",
    "ReplicaReaped",
    "TokenInvalid",
    "UsageError",
]


class GatewayError(Exception):
    code = "gateway_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(GatewayError):
    code = "config_error"


class UsageError(GatewayError):
    code = "usage_error"


class AuthError(GatewayError):
    code = "unauthenticated"
    sqlstate = "28P01"


class TokenInvalid(AuthError):
    code = "token_invalid"


class OAuthError(GatewayError):
    """Answered as ``{"error": code, "error_description": message}`` (RFC 6749 section 5.2);
    ``invalid_client`` with 401, everything else with 400."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.code = error
        self.status = 401 if error == "invalid_client" else 400


class ReplicaReaped(GatewayError):
    code = "replica_reaped"
