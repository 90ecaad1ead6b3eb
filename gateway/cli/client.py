"""The CLI's HTTP client for a running gateway: ``AIRLOCK_URL`` and ``AIRLOCK_TOKEN``."""

from __future__ import annotations

import json as jsonlib
import os
from typing import Any
from urllib.parse import urlencode

__all__ = ["ApiClient", "ClientError"]

# urllib.request (with http.client, ssl and email) is imported by the client when it is made:
# `airlock token create`, `audit verify` and `--help` import this module and make none.

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(Exception):
    """The gateway answered with an error (its ``code`` and message), or could not be reached."""

    def __init__(self, message: str, code: str = "unreachable", status: int = 0) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class ApiClient:
    """One request per :meth:`call`, over the standard library's HTTP client: a command makes
    one or two calls, and importing an HTTP library would cost more than they take."""

    def __init__(self, url: str | None, token: str | None, *, timeout: float = 15.0) -> None:
        if not token:  # `airlock login`'s, when AIRLOCK_TOKEN is unset
            from gateway.identity.token_cache import cached_token  # noqa: PLC0415

            token = cached_token()
        if not token:
            raise ClientError(
                "set AIRLOCK_TOKEN to your token (airlock token create …) or run `airlock login`",
                "no_token",
            )
        self.base_url = (url or DEFAULT_URL).rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        import urllib.request  # noqa: PLC0415  (see the imports)

        # Never through a proxy from the environment: the token goes to AIRLOCK_URL only.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_env(cls) -> ApiClient:
        """The CLI's client: ``AIRLOCK_URL`` and ``AIRLOCK_TOKEN`` (or the cached login)."""
        return cls(os.environ.get("AIRLOCK_URL"), os.environ.get("AIRLOCK_TOKEN"))

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing stays open between calls."""

    def call(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        import urllib.error  # noqa: PLC0415  (imported by __init__ already)
        import urllib.request  # noqa: PLC0415
        from http.client import HTTPException  # noqa: PLC0415

        query = {k: v for k, v in params.items() if v is not None}
        url = f"{self.base_url}{path}" + (f"?{urlencode(query)}" if query else "")
        headers = dict(self._headers)
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"AIRLOCK_URL must be an http(s) URL, not {self.base_url!r}")
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310  (http(s) only, checked above)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return self._json(method, path, response.status, response.read())
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (OSError, HTTPException, ValueError) as exc:  # URLError is an OSError
            raise ClientError(f"cannot reach the gateway at {self.base_url}: {exc}") from exc
        try:
            error = jsonlib.loads(raw)["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", raw[:500].decode("utf-8", "replace")
        raise ClientError(message, code, status)

    def _json(self, method: str, path: str, status: int, raw: bytes) -> Any:
        try:
            return jsonlib.loads(raw)
        except ValueError:
            raise ClientError(
                f"{self.base_url} answered {method} {path} with something that is not "
                "JSON: is AIRLOCK_URL an Airlock gateway?",
                "not_json",
                status,
            ) from None
