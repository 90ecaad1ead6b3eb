"""Who is calling: gateway tokens (and, later, OIDC and token exchange)."""

from gateway.identity.tokens import (
    SigningKey,
    TokenService,
    generate_key,
    identity_from_claims,
    load_key,
)

__all__ = ["SigningKey", "TokenService", "generate_key", "identity_from_claims", "load_key"]
