"""``/oauth/token``: the client credentials grant (RFC 6749 section 4.4) for service accounts and
token exchange (RFC 8693) for delegation chains; ``/oauth/login-config`` for ``airlock login``.

Requests are ``application/x-www-form-urlencoded`` (RFC 6749 section 3.2), parsed here (no
multipart dependency). A client authenticates with ``client_secret_basic`` (HTTP Basic, id and
secret form-urlencoded first, section 2.3.1) or ``client_secret_post`` (``client_id`` and
``client_secret`` in the body), never both. Errors are RFC 6749 section 5.2 JSON:
``{"error": ..., "error_description": ...}``, 401 for ``invalid_client``, else 400. Past the
failed-authentication budget (:mod:`gateway.identity.throttle`) a client-credentials request
is answered 429 ``slow_down`` (the RFC 8628 section 3.5 code, the nearest registered one) with
``Retry-After`` (RFC 6585 section 4), before the client id is looked up or any scrypt runs.
Responses carry ``Cache-Control: no-store``.

Token exchange needs no client authentication: the actor token proves who the actor is.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.api.auth import Context
from gateway.api.errors import ApiError
from gateway.errors import OAuthError
from gateway.identity import IssuedToken, parse_scope
from gateway.identity.grants import ACCEPTED_TOKEN_TYPES, CLIENT_CREDENTIALS, TOKEN_EXCHANGE
from gateway.identity.throttle import Throttled

__all__ = ["router"]

router = APIRouter(tags=["oauth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_BODY = 64 * 1024


@router.post("/oauth/token")
async def token(ctx: Context, request: Request) -> JSONResponse:
    """Issue a gateway token: ``grant_type=client_credentials`` or
    ``urn:ietf:params:oauth:grant-type:token-exchange``."""
    basic = False
    try:
        form = await _form(request)
        grant = form.get("grant_type")
        if grant == CLIENT_CREDENTIALS:
            client_id, secret, basic = _client(request, form)
            issued = await ctx.identity.accounts.client_credentials(
                client_id, secret, parse_scope(form.get("scope"))
            )
            return _issued(issued, exchanged=False)
        if grant == TOKEN_EXCHANGE:
            return _issued(await _exchange(ctx, form), exchanged=True)
        if grant is None:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type", f"grant_type {grant[:100]!r} is not supported")
    except OAuthError as exc:
        if exc.code in ("invalid_client", "slow_down"):
            ctx.metrics.auth_failures.labels("oauth").inc()
        headers = dict(_NO_STORE)
        if basic and exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="airlock"'
        if isinstance(exc, Throttled):  # RFC 6585 section 4: 429 with Retry-After
            headers["Retry-After"] = str(exc.retry_after)
        body = {"error": exc.code, "error_description": exc.message}
        return JSONResponse(body, status_code=exc.status, headers=headers)


@router.get("/oauth/login-config")
async def login_config(ctx: Context) -> dict[str, Any]:
    """Where ``airlock login`` signs people in: the OIDC issuer, client id and scopes."""
    settings = ctx.identity.settings
    if not settings.issuer:
        raise ApiError(404, "not_found", "this gateway accepts no OIDC issuer ([identity] issuer)")
    return {
        "issuer": settings.issuer,
        "client_id": ctx.identity.client_id,
        "audience": settings.audience,
        "scopes": settings.login_scopes,
    }


async def _exchange(ctx: Context, form: dict[str, str]) -> IssuedToken:
    if "resource" in form:
        raise OAuthError("invalid_target", "resource is not supported; use audience")
    if form.get("requested_token_type", "urn:ietf:params:oauth:token-type:access_token") not in (
        ACCEPTED_TOKEN_TYPES
    ):
        raise OAuthError("invalid_request", "only access tokens (JWT) are issued")
    for which in ("subject", "actor"):
        if not form.get(f"{which}_token"):
            raise OAuthError("invalid_request", f"{which}_token is required")
        kind = form.get(f"{which}_token_type")
        if kind not in ACCEPTED_TOKEN_TYPES:
            raise OAuthError(
                "invalid_request", f"{which}_token_type must be an access, ID or JWT token type"
            )
    return await ctx.identity.exchange.exchange(
        form["subject_token"],
        form["actor_token"],
        scope=parse_scope(form.get("scope")),
        audience=form.get("audience"),
    )


def _issued(issued: IssuedToken, *, exchanged: bool) -> JSONResponse:
    return JSONResponse(issued.response(exchanged=exchanged), headers=_NO_STORE)


async def _form(request: Request) -> dict[str, str]:
    """The form body; a parameter given twice is refused (RFC 6749 section 3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise OAuthError("invalid_request", "the request body is too large")
    try:
        parsed = parse_qs(body.decode("utf-8"), strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "the form body cannot be parsed") from exc
    repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
    if repeated:
        raise OAuthError("invalid_request", f"parameters given twice: {', '.join(repeated)}")
    return {k: v[0] for k, v in parsed.items()}


def _client(request: Request, form: dict[str, str]) -> tuple[str, str, bool]:
    """(client id, secret, whether HTTP Basic was used)."""
    header = request.headers.get("authorization", "")
    in_body = "client_id" in form or "client_secret" in form
    if header.lower().startswith("basic "):
        if in_body:
            raise OAuthError("invalid_request", "authenticate the client one way, not two")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "malformed Basic credentials") from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "malformed Basic credentials")
        return unquote_plus(client_id), unquote_plus(secret), True
    if form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"], False
    raise OAuthError("invalid_client", "client authentication is required")
