"""Cross-site request forgery defence for the console chat's POST routes.

Two checks, both required: the request's ``Origin`` (or, lacking it, ``Referer``) names this
server (or the configured public URL) when the browser sends one; and the body or the
``X-CSRF-Token`` header carries the token derived from this browser's ``airlock_chat_nonce``
cookie (HMAC-SHA256 under a per-process secret; double-submit: a foreign page can make the
browser send the cookie but cannot read the page that holds the token).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = ["NONCE_COOKIE", "Csrf", "same_origin"]

NONCE_COOKIE = "airlock_chat_nonce"


class Csrf:
    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def token(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    def valid(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.token(nonce), token)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, public_url: str | None = None) -> bool:
    """False only when the browser says the request comes from another origin."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    if claimed == "null":
        return False
    here = {f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    if public_url:
        here.add(_origin(public_url) or "")
    return _origin(claimed) in here
