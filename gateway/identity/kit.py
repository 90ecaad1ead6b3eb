"""The identity parts of one gateway process, built together from ``[identity]``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx

from approvals import ApprovalService, Identity
from approvals.revocation import Revocation, RevokedWhat
from gateway.config import IdentitySettings
from gateway.identity.accounts import ServiceAccounts
from gateway.identity.authenticator import Authenticator
from gateway.identity.exchange import TokenExchange
from gateway.identity.oidc import OidcVerifier
from gateway.identity.throttle import Budget, SecretThrottle
from gateway.identity.tokens import TokenService
from store import IdentityStore, SqlRepository

__all__ = ["IdentityKit", "open_identity"]


@dataclass(frozen=True)
class IdentityKit:
    settings: IdentitySettings
    store: IdentityStore
    authenticator: Authenticator
    accounts: ServiceAccounts
    exchange: TokenExchange
    oidc: OidcVerifier | None

    @property
    def client_id(self) -> str:
        return self.settings.client_id or self.settings.audience

    async def revoke_subject(self, subject: str, reason: str, by: Identity, at: datetime) -> None:
        await self.store.revoke_subject(Revocation(RevokedWhat.SUBJECT, subject, reason, by, at))

    async def revoke_token(
        self, jti: str, reason: str, by: Identity, at: datetime, expires_at: datetime | None
    ) -> None:
        revocation = Revocation(RevokedWhat.TOKEN, jti, reason, by, at)
        await self.store.revoke_token(revocation, expires_at)


def throttle_for(settings: IdentitySettings) -> SecretThrottle:
    """The client-credentials failure budgets and scrypt bound of ``[identity]``."""
    window = settings.client_failure_window.total_seconds()
    return SecretThrottle(
        Budget(settings.client_failures_per_client, window),
        Budget(settings.client_failures, window),
        concurrency=settings.scrypt_concurrency,
    )


@contextlib.asynccontextmanager
async def open_identity(
    settings: IdentitySettings,
    tokens: TokenService,
    service: ApprovalService,
    repository: SqlRepository,
) -> AsyncIterator[IdentityKit]:
    """Build the kit; the OIDC verifier's HTTP client is closed on exit."""
    store = IdentityStore(repository)
    async with contextlib.AsyncExitStack() as stack:
        oidc = None
        if settings.issuer:
            http = await stack.enter_async_context(httpx.AsyncClient(follow_redirects=True))
            oidc = OidcVerifier(
                settings.issuer,
                settings.audience,
                http,
                groups_claim=settings.groups_claim,
                subject_claim=settings.subject_claim,
                leeway=settings.leeway.total_seconds(),
                min_refresh=settings.jwks_min_refresh.total_seconds(),
                retry_min=settings.issuer_retry_min.total_seconds(),
                retry_max=settings.issuer_retry_max.total_seconds(),
            )
        authenticator = Authenticator(tokens, store, oidc)
        accounts = ServiceAccounts(
            store,
            tokens,
            service.clock,
            connections=service.connections,
            token_ttl=settings.service_token_ttl,
            throttle=throttle_for(settings),
        )
        exchange = TokenExchange(
            authenticator,
            tokens,
            service,
            max_depth=settings.max_chain_depth,
            ttl=settings.exchange_ttl,
        )
        yield IdentityKit(settings, store, authenticator, accounts, exchange, oidc)
