"""Map errors to JSON answers with a stable ``code``: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from approvals import (
    AlreadyDecided,
    ApprovalError,
    InvalidTransition,
    NotFound,
    PolicyViolation,
)
from gateway.errors import AuthError, GatewayError
from store import Unavailable

__all__ = ["ApiError", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer the API gives on purpose (403 for reading what one may not, say)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, **details: object) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _status(exc: ApprovalError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PolicyViolation):
        return 403
    if isinstance(exc, InvalidTransition):
        return 409
    return 400


async def _approval(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApprovalError)
    details: dict[str, object] = {}
    if isinstance(exc, AlreadyDecided):
        details = {"state": exc.state, "decided_by": exc.decided_by}
    return error_response(_status(exc), exc.code, exc.message, **details)


async def _gateway(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    status = 401 if isinstance(exc, AuthError) else 400
    return error_response(status, exc.code, exc.message)


async def _api(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unavailable)
    log.warning("store unavailable: %s", exc.message)
    # One code for every store outage (a full disk included), the reason beside it.
    message = f"the store cannot take this now ({exc.reason}); try again shortly"
    return error_response(503, Unavailable.code, message, reason=exc.reason)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
    ]
    return error_response(422, "invalid_request", "the request is not valid", problems=problems)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; the event was logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApprovalError, _approval)
    app.add_exception_handler(GatewayError, _gateway)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
