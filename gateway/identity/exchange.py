"""Token exchange (RFC 8693): a subject token and an actor token make a delegated gateway token.

``subject_token`` = alice's token (or an already delegated one), ``actor_token`` = the agent's
own token (a service account's client-credentials token, or a person's). The result:

- ``sub`` stays the original subject; ``act`` is the actor, nesting the subject token's own
  ``act`` inside it (section 4.1: the outermost ``act`` is the current actor), so alice →
  ci-runner → sql-agent reads ``{sub: alice, act: {sub: sql-agent, act: {sub: ci-runner}}}``;
- ``aud`` is Airlock (a requested ``audience`` must be Airlock's; ``resource`` is refused with
  ``invalid_target``, section 2.2.2);
- ``scope`` is the set of connections every link may use (:mod:`approvals.chain`), never wider
  than the subject token's own scope; a requested ``scope`` must lie inside it, else the exchange
  fails with ``invalid_scope`` naming the link that lacks access;
- it expires no later than either input token, and after ``exchange_ttl`` at most;
- ``rests_on`` lists every token id it derives from, so revoking any of them refuses it;
- the chain may hold at most ``max_chain_depth`` actors; the actor token must be the actor's own
  (no ``act`` of its own) and an identity appears in a chain once.

Every exchange is audited (``token.exchanged``, actor = the new chain).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from approvals import Actor, ApprovalService, AuditEntry, Identity, IdentityKind
from approvals.chain import chain_scope, intersect
from gateway.errors import AuthError, OAuthError
from gateway.identity.authenticator import Authenticator, Principal
from gateway.identity.grants import IssuedToken
from gateway.identity.tokens import TokenService

__all__ = ["TokenExchange"]


class TokenExchange:
    def __init__(
        self,
        authenticator: Authenticator,
        tokens: TokenService,
        service: ApprovalService,
        *,
        max_depth: int = 4,
        ttl: timedelta = timedelta(hours=1),
    ) -> None:
        self.authenticator, self.tokens, self.service = authenticator, tokens, service
        self.max_depth, self.ttl = max_depth, ttl

    async def exchange(
        self,
        subject_token: str,
        actor_token: str,
        *,
        scope: frozenset[str] | None = None,
        audience: str | None = None,
    ) -> IssuedToken:
        if audience is not None and audience != self.tokens.audience:
            raise OAuthError("invalid_target", f"tokens are only issued for {self.tokens.audience}")
        subject = await self._principal(subject_token, "subject_token")
        actor = await self._principal(actor_token, "actor_token")
        chained = self._chain(subject, actor)
        granted = await self._scope(chained, subject.identity.scope, scope)
        identity = replace(chained, scope=granted)
        now = self.service.clock.now().timestamp()
        token, claims = self.tokens.issue(
            identity,
            ttl=self.ttl,
            not_after=min(subject.expires_at, actor.expires_at),
            rests_on=subject.token_ids | actor.token_ids,
            now=now,
        )
        await self._audit(identity, claims)
        return IssuedToken.of(token, claims, now)

    async def _principal(self, token: str, which: str) -> Principal:
        try:
            return await self.authenticator.authenticate(token, edge=f"token exchange {which}")
        except AuthError as exc:
            raise OAuthError("invalid_request", f"{which}: {exc.message}") from exc

    def _chain(self, subject: Principal, actor: Principal) -> Identity:
        who, agent = subject.identity, actor.identity
        if agent.actors:
            raise OAuthError(
                "invalid_request",
                f"actor_token: {agent.describe()} is itself delegated; use the actor's own token",
            )
        if who.in_chain(agent.subject):
            raise OAuthError(
                "invalid_request", f"{agent.subject} is already in the chain {who.describe()}"
            )
        if len(who.actors) + 1 > self.max_depth:
            raise OAuthError(
                "invalid_request",
                f"{who.describe()} → {agent.subject} is longer than the maximum of "
                f"{self.max_depth} agents",
            )
        link = Actor(
            agent.subject,
            agent.kind,
            agent.groups,
            agent.scope if agent.kind is IdentityKind.SERVICE else None,
        )
        return replace(who, actors=(*who.actors, link), scope=None)

    async def _scope(
        self,
        chained: Identity,
        ceiling: frozenset[str] | None,
        requested: frozenset[str] | None,
    ) -> frozenset[str]:
        service = self.service
        now = service.clock.now()
        per_link = await chain_scope(service.connections, service.repository, chained, now)
        granted = intersect(per_link.values(), ceiling)
        if requested is None:
            if not granted:
                raise OAuthError(
                    "invalid_scope",
                    f"no connection is open to every link of {chained.describe()}",
                )
            return granted
        for name in sorted(requested - granted):
            lacking = [s for s, allowed in per_link.items() if name not in allowed]
            who = ", ".join(lacking) if lacking else "the subject token's scope"
            raise OAuthError(
                "invalid_scope",
                f"{name}: {who} may not use it, so {chained.describe()} may not either",
            )
        return requested

    async def _audit(self, identity: Identity, claims: dict[str, object]) -> None:
        await self.service.record(
            AuditEntry(
                action="token.exchanged",
                actor=identity,
                target=str(claims["jti"]),
                outcome="issued",
                at=self.service.clock.now(),
                details={
                    "scope": claims.get("scope"),
                    "exp": claims["exp"],
                    "rests_on": claims.get("rests_on", []),
                },
            )
        )
