"""Who is calling: gateway tokens, OIDC tokens, service accounts and token exchange.

The names below are loaded on first use (PEP 562): ``airlock token create`` needs
:mod:`gateway.identity.tokens` alone, and importing a submodule runs this file first; the
accounts, the exchange and the OIDC verifier bring in the store and an HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "ServiceAccounts": "accounts",
    "Authenticator": "authenticator",
    "Principal": "authenticator",
    "peek_claims": "authenticator",
    "TokenExchange": "exchange",
    "IssuedToken": "grants",
    "IdentityKit": "kit",
    "open_identity": "kit",
    "OidcVerifier": "oidc",
    "SigningKey": "tokens",
    "TokenService": "tokens",
    "generate_key": "tokens",
    "identity_from_claims": "tokens",
    "load_key": "tokens",
    "parse_scope": "tokens",
    "scope_text": "tokens",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
