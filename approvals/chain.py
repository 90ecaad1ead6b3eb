"""Chains of identities: what each link may reach, the intersection along a chain, and the
connect-time check that an agent can never do more than any link of its chain.

A *link* is the original subject (with the identity's groups) or one actor (with the groups its
own token carried). A link may use a connection when

- the connection is ``standing`` and the link is in its ``allow_groups``; or
- the link holds a live delegation on the connection (the only way onto ``request``
  connections, and onto standing ones for anyone outside ``allow_groups``); or
- the link is an *actor* whose token carried an explicit scope (a service account created with
  ``--scope``) naming the connection: the admin let that agent act there for someone. The scope
  then also narrows the agent: as an actor it acts on nothing outside its scope.

A chain may use a connection only when every link may and the connection is inside the
identity's own ``scope`` ceiling, if it has one (a service account's scope, or the intersection
a token exchange computed). Scopes only ever narrow: a subject's scope never grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from approvals.errors import AccessNotAllowed
from approvals.model import AccessMode, Connection, Delegation, Identity, IdentityKind
from approvals.ports import Repository

__all__ = ["Link", "authorize_chain", "chain_scope", "intersect", "links", "reachable", "rests_on"]


@dataclass(frozen=True, slots=True)
class Link:
    """One identity in a chain, with what its own token says about it."""

    subject: str
    kind: IdentityKind
    groups: frozenset[str]
    scope: frozenset[str] | None  # actors only: an explicit service-account scope
    is_actor: bool


def links(who: Identity) -> tuple[Link, ...]:
    """The subject first, then every actor in delegation order."""
    first = Link(who.subject, who.kind, who.groups, None, is_actor=False)
    rest = (Link(a.subject, a.kind, a.groups, a.scope, is_actor=True) for a in who.actors)
    return (first, *rest)


def _standing(conn: Connection, groups: frozenset[str]) -> bool:
    return conn.access is AccessMode.STANDING and bool(conn.allow_groups & groups)


async def _live(
    repository: Repository, subject: str, now: datetime, connection: str | None = None
) -> list[Delegation]:
    found = await repository.list_delegations(subject=subject, connection=connection, active_at=now)
    return [d for d in found if d.active(now)]


async def reachable(
    connections: Mapping[str, Connection], repository: Repository, link: Link, now: datetime
) -> frozenset[str]:
    """The connections ``link`` may use on its own account (see the module docstring)."""
    if link.is_actor and link.scope is not None:
        return frozenset(name for name in link.scope if name in connections)
    by_group = {name for name, conn in connections.items() if _standing(conn, link.groups)}
    delegated = {d.connection for d in await _live(repository, link.subject, now)}
    return frozenset((by_group | delegated) & set(connections))


async def chain_scope(
    connections: Mapping[str, Connection], repository: Repository, who: Identity, now: datetime
) -> dict[str, frozenset[str]]:
    """Per link (subject first): what it may use. The chain's scope is their intersection
    (:func:`intersect`), within ``who.scope`` when that is set."""
    scopes: dict[str, frozenset[str]] = {}
    for link in links(who):
        scopes[link.subject] = await reachable(connections, repository, link, now)
    return scopes


def intersect(scopes: Iterable[frozenset[str]], ceiling: frozenset[str] | None) -> frozenset[str]:
    """What every link may use, never wider than ``ceiling``."""
    result: frozenset[str] | None = ceiling
    for scope in scopes:
        result = scope if result is None else result & scope
    return result if result is not None else frozenset()


async def rests_on(
    repository: Repository, who: Identity, conn: Connection, now: datetime
) -> tuple[Delegation, ...]:
    """The live delegations the chain's access to ``conn`` rests on (one per link that needs
    one: the longest-lasting), or AccessNotAllowed naming the first link without access."""
    if who.scope is not None and conn.name not in who.scope:
        raise AccessNotAllowed(
            f"{who.describe()}: the token's scope ({', '.join(sorted(who.scope)) or 'nothing'}) "
            f"does not include {conn.name}"
        )
    found: list[Delegation] = []
    for link in links(who):
        if link.is_actor and link.scope is not None:
            if conn.name in link.scope:
                continue
            raise AccessNotAllowed(
                f"{link.subject} (acting in {who.describe()}) may not act on {conn.name}: "
                "it is outside the service account's scope"
            )
        if _standing(conn, link.groups):
            continue
        live = await _live(repository, link.subject, now, conn.name)
        if not live:
            raise AccessNotAllowed(_no_access(who, link, conn))
        found.append(live[0])
    return tuple(found)


async def authorize_chain(
    repository: Repository, who: Identity, conn: Connection, now: datetime
) -> Delegation | None:
    """May the whole chain of ``who`` open a session on ``conn``? Returns the delegation the
    session rests on that expires first (the session must end then), or None.

    Its ``role`` is the role the session uses: the one role the chain's delegations name (a
    delegation without one leaves the connection's own credential, which a role narrows), None
    when none names one. Delegations naming different roles are refused: a session has one."""
    found = await rests_on(repository, who, conn, now)
    if not found:
        return None
    earliest = min(found, key=lambda d: d.expires_at)
    roles = sorted({d.role for d in found if d.role is not None})
    if len(roles) > 1:
        raise AccessNotAllowed(
            f"{who.describe()}: the delegations this chain rests on name different roles on "
            f"{conn.name} ({', '.join(roles)}); a session uses one"
        )
    role = roles[0] if roles else None
    return earliest if earliest.role == role else replace(earliest, role=role)


def _no_access(who: Identity, link: Link, conn: Connection) -> str:
    hint = f"ask for it with `/access request {conn.name} for 1h because <reason>`"
    if not who.actors:
        return f"{who.subject} has no access to {conn.name}; {hint}"
    return f"{link.subject} (in the chain {who.describe()}) has no access to {conn.name}; {hint}"
