"""Service accounts for agents and CI: created by an admin, each with its own groups and an
optional explicit scope; the client credentials grant (RFC 6749 section 4.4) turns the account's
id and secret into a short-lived gateway token.

- The client id is the account's name (``ci-runner``: lower case, no ``@``, so it never collides
  with a person's e-mail subject). The secret is shown once at creation and at each rotation.
- Rotation replaces the secret at once; a secret may expire (``secret_ttl``), and so may the
  account (``expires_in``). Tokens never outlive either.
- Disabling is a revocation (:mod:`approvals.revocation`): tokens naming the account anywhere
  in their chain are refused and the sessions resting on them end.
- The token's ``scope`` is the account's explicit scope narrowed by the request's ``scope``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta
from functools import partial

from approvals import AuditEntry, Clock, Identity, IdentityKind, NotFound, new_id
from approvals.revocation import Revocation, RevokedWhat
from gateway.errors import OAuthError, UsageError
from gateway.identity.client_secrets import check_secret, hash_secret, new_secret
from gateway.identity.grants import IssuedToken
from gateway.identity.throttle import Budget, SecretThrottle
from gateway.identity.tokens import TokenService
from store import IdentityStore, IntegrityError, ServiceAccount

__all__ = ["NAME", "ServiceAccounts"]

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
# The defaults of [identity] client_failures_per_client / client_failures / client_failure_window.
DEFAULT_PER_CLIENT = Budget(10, 60.0)
DEFAULT_OVERALL = Budget(100, 60.0)


class ServiceAccounts:
    def __init__(
        self,
        store: IdentityStore,
        tokens: TokenService,
        clock: Clock,
        *,
        connections: Collection[str],
        token_ttl: timedelta = timedelta(hours=1),
        throttle: SecretThrottle | None = None,
    ) -> None:
        self.store, self.tokens, self.clock = store, tokens, clock
        self.connections = frozenset(connections)
        self.token_ttl = token_ttl
        self.throttle = throttle or SecretThrottle(DEFAULT_PER_CLIENT, DEFAULT_OVERALL)

    async def create(
        self,
        name: str,
        *,
        groups: Collection[str],
        scope: Collection[str] | None,
        by: Identity,
        expires_in: timedelta | None = None,
        secret_ttl: timedelta | None = None,
    ) -> tuple[ServiceAccount, str]:
        """A new account and its secret (shown once)."""
        if not NAME.match(name):
            raise UsageError(
                f"{name!r} is not a service-account name: 2-63 of a-z 0-9 . _ -, "
                "starting with a letter or digit"
            )
        now = self.clock.now()
        account = ServiceAccount(
            id=new_id(),
            name=name,
            groups=frozenset(groups),
            scope=self._scope(scope),
            created_at=now,
            expires_at=now + expires_in if expires_in else None,
            secret_expires_at=now + secret_ttl if secret_ttl else None,
        )
        secret = new_secret()
        try:
            hashed = await self.throttle.run(partial(hash_secret, secret))  # ~50 ms of scrypt
            stored = await self.store.add_service_account(account, hashed, by)
        except IntegrityError as exc:
            raise UsageError(exc.message) from exc
        return stored, secret

    def _scope(self, scope: Collection[str] | None) -> frozenset[str] | None:
        if scope is None:
            return None
        unknown = sorted(set(scope) - self.connections)
        if unknown:
            raise UsageError(f"no connection named {', '.join(unknown)}")
        return frozenset(scope)

    async def rotate(
        self, name: str, *, by: Identity, secret_ttl: timedelta | None = None
    ) -> tuple[ServiceAccount, str]:
        """A new secret for ``name``; the old one stops working at once."""
        secret, now = new_secret(), self.clock.now()
        account = await self.store.rotate_secret(
            name,
            await self.throttle.run(partial(hash_secret, secret)),
            at=now,
            secret_expires_at=now + secret_ttl if secret_ttl else None,
            by=by,
        )
        if account is None:
            raise NotFound(f"no service account named {name}")
        return account, secret

    async def disable(self, name: str, reason: str, by: Identity) -> ServiceAccount:
        if not reason.strip():
            raise UsageError("disabling a service account needs a reason")
        revocation = Revocation(
            RevokedWhat.SERVICE_ACCOUNT, name, reason.strip(), by, self.clock.now()
        )
        account = await self.store.disable_service_account(revocation)
        if account is None:
            raise NotFound(f"no service account named {name}")
        return account

    async def list(self) -> list[ServiceAccount]:
        return await self.store.list_service_accounts()

    # -- the client credentials grant -----------------------------------------------------

    async def client_credentials(
        self, client_id: str, secret: str, requested: frozenset[str] | None
    ) -> IssuedToken:
        """A token for the account, or OAuthError ``invalid_client`` / ``invalid_scope``, or
        :class:`Throttled` (no lookup, no scrypt) once the failure budget is spent."""
        with self.throttle.attempt(client_id) as attempt:
            found = await self.store.service_account(client_id)
            account, stored = found if found is not None else (None, None)
            right = await self.throttle.run(partial(check_secret, secret, stored))
            if not right or account is None:
                raise OAuthError("invalid_client", "unknown client or wrong secret")
            attempt.succeeded()
        now = self.clock.now()
        refusal = account.refusal(now)
        if refusal is not None:
            raise OAuthError("invalid_client", refusal)
        scope = self._granted_scope(account, requested)
        identity = Identity(
            subject=account.name, kind=IdentityKind.SERVICE, groups=account.groups, scope=scope
        )
        ends = [t for t in (account.expires_at, account.secret_expires_at) if t is not None]
        not_after = min(ends).timestamp() if ends else None
        token, claims = self.tokens.issue(
            identity, ttl=self.token_ttl, not_after=not_after, now=now.timestamp()
        )
        await self._audit(identity, claims, now)
        return IssuedToken.of(token, claims, now.timestamp())

    def _granted_scope(
        self, account: ServiceAccount, requested: frozenset[str] | None
    ) -> frozenset[str] | None:
        if requested is None:
            return account.scope
        allowed = account.scope if account.scope is not None else self.connections
        outside = sorted(requested - allowed)
        if outside:
            raise OAuthError(
                "invalid_scope", f"{account.name} may not ask for {', '.join(outside)}"
            )
        return requested

    async def _audit(self, identity: Identity, claims: dict[str, object], now: datetime) -> None:
        entry = AuditEntry(
            action="token.issued",
            actor=identity,
            target=str(claims["jti"]),
            outcome="issued",
            at=now,
            details={
                "grant": "client_credentials",
                "exp": claims["exp"],
                "scope": claims.get("scope"),
            },
        )
        async with self.store.repository.transaction() as tx:
            await tx.append_audit(entry)
