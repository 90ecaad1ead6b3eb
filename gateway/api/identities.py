"""``/v1/whoami``, ``/v1/service-accounts`` and ``/v1/revocations``: who one is, the agents'
accounts (admins create, rotate and disable them), and revoking people and tokens.

Revoking refuses the revoked tokens at once and ends the sessions resting on them within a
second on every replica (docs/identity.md). Every change here is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator

from approvals import Identity
from approvals.subjects import canonical
from gateway.api.auth import Caller, CallerToken, Context
from gateway.api.context import ApiContext
from gateway.api.errors import ApiError
from gateway.api.schemas import ErrorOut
from gateway.config import parse_duration
from store import IntegrityError, ServiceAccount

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["identity"])

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}
Duration = Annotated[str | None, Field(default=None, examples=["90d", "8h"])]


class WhoAmIOut(BaseModel):
    subject: str
    kind: str
    groups: list[str]
    email: str | None
    chain: list[str]
    scope: list[str] | None
    source: str
    jti: str | None
    expires_at: datetime


class ServiceAccountIn(BaseModel):
    name: str
    groups: list[str] = []
    scope: list[str] | None = None
    expires_in: Duration = None
    secret_ttl: Duration = None


class RotateIn(BaseModel):
    secret_ttl: Duration = None


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


class RevokeSubjectIn(ReasonIn):
    subject: str = Field(min_length=1, max_length=320)


class RevokeTokenIn(ReasonIn):
    jti: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None


class ServiceAccountOut(BaseModel):
    name: str
    client_id: str
    groups: list[str]
    scope: list[str] | None
    created_at: datetime
    created_by: str | None
    expires_at: datetime | None
    secret_rotated_at: datetime | None
    secret_expires_at: datetime | None
    disabled_at: datetime | None
    disable_reason: str | None
    client_secret: str | None = None  # only when just created or rotated

    @classmethod
    def of(cls, account: ServiceAccount, secret: str | None = None) -> ServiceAccountOut:
        return cls(
            name=account.name,
            client_id=account.name,
            groups=sorted(account.groups),
            scope=sorted(account.scope) if account.scope is not None else None,
            created_at=account.created_at,
            created_by=account.created_by,
            expires_at=account.expires_at,
            secret_rotated_at=account.secret_rotated_at,
            secret_expires_at=account.secret_expires_at,
            disabled_at=account.disabled_at,
            disable_reason=account.disable_reason,
            client_secret=secret,
        )


class RevokedSubjectOut(BaseModel):
    subject: str
    reason: str
    revoked_by: str
    revoked_at: datetime


def _admin(ctx: ApiContext, who: Identity, what: str) -> None:
    if not ctx.is_admin(who):
        raise ApiError(403, "forbidden", f"only an admin may {what}")


def _duration(value: str | None, field: str) -> timedelta | None:
    if value is None:
        return None
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"{field}: {exc}") from exc
    if parsed <= timedelta(0):
        raise ApiError(422, "invalid_request", f"{field} must be positive")
    return parsed


@router.get("/whoami", responses=_ERRORS)
async def whoami(token: CallerToken) -> WhoAmIOut:
    """The caller as the gateway sees them: subject, groups, chain, scope, token."""
    who = token.identity
    return WhoAmIOut(
        subject=who.subject,
        kind=who.kind.value,
        groups=sorted(who.groups),
        email=who.email,
        chain=list(who.chain),
        scope=sorted(who.scope) if who.scope is not None else None,
        source=token.source,
        jti=token.jti,
        expires_at=datetime.fromtimestamp(token.expires_at).astimezone(),
    )


@router.get("/service-accounts", responses=_ERRORS)
async def list_service_accounts(ctx: Context, who: Caller) -> list[ServiceAccountOut]:
    """Every service account (admins and auditors)."""
    if not ctx.is_auditor(who):
        raise ApiError(403, "forbidden", "only admins and auditors may list service accounts")
    return [ServiceAccountOut.of(a) for a in await ctx.identity.accounts.list()]


@router.post("/service-accounts", status_code=201, responses=_ERRORS)
async def create_service_account(
    ctx: Context, who: Caller, body: ServiceAccountIn
) -> ServiceAccountOut:
    """Create an account; the answer holds its secret, which is never shown again."""
    _admin(ctx, who, "create service accounts")
    account, secret = await ctx.identity.accounts.create(
        body.name,
        groups=body.groups,
        scope=body.scope,
        by=who,
        expires_in=_duration(body.expires_in, "expires_in"),
        secret_ttl=_duration(body.secret_ttl, "secret_ttl"),
    )
    return ServiceAccountOut.of(account, secret)


@router.post("/service-accounts/{name}/rotate", responses=_ERRORS)
async def rotate_secret(ctx: Context, who: Caller, name: str, body: RotateIn) -> ServiceAccountOut:
    """A new secret; the old one stops working at once."""
    _admin(ctx, who, "rotate service-account secrets")
    secret_ttl = _duration(body.secret_ttl, "secret_ttl")
    account, secret = await ctx.identity.accounts.rotate(name, by=who, secret_ttl=secret_ttl)
    return ServiceAccountOut.of(account, secret)


@router.post("/service-accounts/{name}/disable", responses=_ERRORS)
async def disable(ctx: Context, who: Caller, name: str, body: ReasonIn) -> ServiceAccountOut:
    """Disable the account: its tokens are refused and its sessions end."""
    _admin(ctx, who, "disable service accounts")
    return ServiceAccountOut.of(await ctx.identity.accounts.disable(name, body.reason, who))


@router.get("/revocations/subjects", responses=_ERRORS)
async def revoked_subjects(ctx: Context, who: Caller) -> list[RevokedSubjectOut]:
    if not ctx.is_auditor(who):
        raise ApiError(403, "forbidden", "only admins and auditors may list revocations")
    rows = await ctx.identity.store.list_revoked_subjects()
    return [
        RevokedSubjectOut(subject=s, reason=r, revoked_by=b, revoked_at=t) for s, r, b, t in rows
    ]


@router.post("/revocations/subjects", status_code=201, responses=_ERRORS)
async def revoke_subject(ctx: Context, who: Caller, body: RevokeSubjectIn) -> RevokedSubjectOut:
    """Revoke a person (or any subject): every token naming them anywhere in its chain is
    refused until the revocation is lifted, and their sessions end."""
    _admin(ctx, who, "revoke people")
    subject = canonical(body.subject)  # every spelling of the person is revoked
    if subject == who.subject:
        raise ApiError(403, "forbidden", "an admin cannot revoke themselves")
    now = ctx.clock.now()
    try:
        await ctx.identity.revoke_subject(subject, body.reason, who, now)
    except IntegrityError as exc:
        raise ApiError(409, "already_revoked", exc.message) from exc
    return RevokedSubjectOut(
        subject=subject, reason=body.reason, revoked_by=who.subject, revoked_at=now
    )


@router.delete("/revocations/subjects/{subject}", status_code=204, responses=_ERRORS)
async def restore_subject(ctx: Context, who: Caller, subject: str) -> Response:
    """Lift a subject's revocation (new tokens are accepted again)."""
    _admin(ctx, who, "lift revocations")
    if not await ctx.identity.store.restore_subject(subject, who, ctx.clock.now()):
        raise ApiError(404, "not_found", f"{subject} is not revoked")
    return Response(status_code=204)


@router.post("/revocations/tokens", status_code=201, responses=_ERRORS)
async def revoke_token(ctx: Context, token: CallerToken, body: RevokeTokenIn) -> dict[str, str]:
    """Revoke one token by its ``jti``, with every token exchanged from it. Admins revoke any
    token; anyone may revoke the token they are calling with."""
    who = token.identity
    if not (ctx.is_admin(who) or body.jti == token.jti):
        raise ApiError(403, "forbidden", "only an admin may revoke someone else's token")
    try:
        await ctx.identity.revoke_token(
            body.jti, body.reason, who, ctx.clock.now(), body.expires_at
        )
    except IntegrityError as exc:
        raise ApiError(409, "already_revoked", exc.message) from exc
    return {"jti": body.jti, "revoked_by": who.subject}
