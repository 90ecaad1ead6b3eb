"""Errors of the gateway's own edges (configuration, tokens, the HTTP API)::

    GatewayError
    ├── ConfigError          a configuration file or variable is wrong (the process stops)
    ├── UsageError           a command-line argument is wrong (``airlock`` exits 2)
    └── AuthError            a credential was refused            sqlstate 28P01, HTTP 401
        └── TokenInvalid     a token's signature, audience, issuer or lifetime is wrong

Domain errors (approvals.errors) cross the edges as they are; each edge maps them to its answer
(an HTTP status and JSON ``code``, a SQLSTATE).
"""

from __future__ import annotations

__all__ = ["AuthError", "ConfigError", "GatewayError", "TokenInvalid", "UsageError"]


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
