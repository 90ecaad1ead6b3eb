"""The CLI's HTTP client for a running gateway: ``AIRLOCK_URL`` and ``AIRLOCK_TOKEN``."""

from __future__ import annotations

import os
from typing import Any

import httpx

from gateway.identity.token_cache import cached_token

__all__ = ["ApiClient", "ClientError"]

DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(Exception):
    """The gateway answered with an error (its ``code`` and message), or could not be reached."""

    def __init__(self, message: str, code: str = "unreachable", status: int = 0) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class ApiClient:
    def __init__(self, url: str | None, token: str | None, *, timeout: float = 15.0) -> None:
        token = token or cached_token()  # `airlock login`'s, when AIRLOCK_TOKEN is unset
        if not token:
            raise ClientError(
                "set AIRLOCK_TOKEN to your token (airlock token create …) or run `airlock login`",
                "no_token",
            )
        self._http = httpx.Client(
            base_url=(url or DEFAULT_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    @classmethod
    def from_env(cls) -> ApiClient:
        """The CLI's client: ``AIRLOCK_URL`` and ``AIRLOCK_TOKEN`` (or the cached login)."""
        return cls(os.environ.get("AIRLOCK_URL"), os.environ.get("AIRLOCK_TOKEN"))

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(self, method: str, path: str, json: Any = None, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=query)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the gateway at {self._http.base_url}: {exc}") from exc
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise ClientError(
                    f"{self._http.base_url} answered {method} {path} with something that is not "
                    "JSON: is AIRLOCK_URL an Airlock gateway?",
                    "not_json",
                    response.status_code,
                ) from None
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", response.text[:500]
        raise ClientError(message, code, response.status_code)
