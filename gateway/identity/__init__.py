"""Who is calling: gateway tokens, OIDC tokens, service accounts and token exchange."""

from gateway.identity.accounts import ServiceAccounts
from gateway.identity.authenticator import Authenticator, Principal, peek_claims
from gateway.identity.exchange import TokenExchange
from gateway.identity.grants import IssuedToken
from gateway.identity.kit import IdentityKit, open_identity
from gateway.identity.oidc import OidcVerifier
from gateway.identity.tokens import (
    SigningKey,
    TokenService,
    generate_key,
    identity_from_claims,
    load_key,
    parse_scope,
    scope_text,
)

__all__ = [
    "Authenticator",
    "IdentityKit",
    "IssuedToken",
    "OidcVerifier",
    "Principal",
    "ServiceAccounts",
    "SigningKey",
    "TokenExchange",
    "TokenService",
    "generate_key",
    "identity_from_claims",
    "load_key",
    "open_identity",
    "parse_scope",
    "peek_claims",
    "scope_text",
]
