"""What the token endpoint hands out, and the token type URIs of RFC 8693 section 3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.identity.tokens import parse_scope

__all__ = [
    "ACCEPTED_TOKEN_TYPES",
    "ACCESS_TOKEN_TYPE",
    "CLIENT_CREDENTIALS",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE",
    "IssuedToken",
]

# Grant types and token type identifiers (URIs, not secrets).
CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
ACCEPTED_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE})


@dataclass(frozen=True)
class IssuedToken:
    """A gateway token just minted, with what the response (RFC 6749 5.1 / RFC 8693 2.2.1)
    tells the client about it."""

    access_token: str
    expires_in: int
    jti: str
    scope: frozenset[str] | None

    @classmethod
    def of(cls, token: str, claims: dict[str, Any], now: float) -> IssuedToken:
        return cls(
            access_token=token,
            expires_in=max(int(claims["exp"]) - int(now), 0),
            jti=str(claims["jti"]),
            scope=parse_scope(claims.get("scope")),
        )

    def response(self, *, exchanged: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        if self.scope is not None:
            body["scope"] = " ".join(sorted(self.scope))
        if exchanged:
            body["issued_token_type"] = ACCESS_TOKEN_TYPE
        return body
