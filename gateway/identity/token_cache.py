"""The CLI's cached login: ``$XDG_CONFIG_HOME/airlock/token.json`` (default
``~/.config/airlock/token.json``), written by ``airlock login`` with mode 0600 in a 0700 folder,
read by every command that talks to a gateway when ``AIRLOCK_TOKEN`` is unset.

A cached token that has expired (30 s of margin) is refreshed with its refresh token at the
issuer's token endpoint (RFC 6749 section 6) when it has one; otherwise it is not used.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from gateway.errors import AuthError
from gateway.identity.authenticator import peek_claims

__all__ = ["cache_entry", "cache_path", "cached_token", "load_cache", "save_cache"]

MARGIN_S = 30


def cache_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "airlock" / "token.json"


def save_cache(entry: Mapping[str, Any], path: Path | None = None) -> Path:
    """Write ``entry`` atomically, readable by its owner only."""
    target = path or cache_path()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(entry), handle, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, target)
    return target


def load_cache(path: Path | None = None) -> dict[str, Any] | None:
    try:
        data = json.loads((path or cache_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cached_token(path: Path | None = None, *, now: float | None = None) -> str | None:
    """The cached token if it is still good (refreshing it if it can), else None."""
    entry = load_cache(path)
    if entry is None or not isinstance(entry.get("token"), str):
        return None
    current = time.time() if now is None else now
    if float(entry.get("expires_at", 0)) - MARGIN_S > current:
        return str(entry["token"])
    refreshed = _refresh(entry)
    if refreshed is None:
        return None
    save_cache(refreshed, path)
    return str(refreshed["token"])


def _refresh(entry: dict[str, Any]) -> dict[str, Any] | None:
    refresh, endpoint = entry.get("refresh_token"), entry.get("token_endpoint")
    if not isinstance(refresh, str) or not isinstance(endpoint, str):
        return None
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": str(entry.get("client_id", "")),
    }
    try:
        response = httpx.post(endpoint, data=form, timeout=15)
        answer = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(answer, dict):
        return None
    answer.setdefault("refresh_token", refresh)  # section 6: a new one is optional
    try:
        return cache_entry(answer, entry)
    except ValueError:
        return None


def cache_entry(answer: Mapping[str, Any], about: Mapping[str, Any]) -> dict[str, Any]:
    """What to cache from a token response (RFC 6749 section 5.1): the token the gateway will
    accept — the access token when it is a JWT for the gateway's audience, else the ID token —
    its expiry, the refresh token, and ``about`` (issuer, client_id, audience, token_endpoint).
    """
    audience = about.get("audience")
    chosen: str | None = None
    for name in ("access_token", "id_token"):
        candidate = answer.get(name)
        if not isinstance(candidate, str):
            continue
        try:
            claims = peek_claims(candidate)
        except AuthError:
            continue
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if audience is None or audience in audiences:
            chosen, expires = candidate, claims.get("exp")
            break
    if chosen is None:
        raise ValueError("the identity provider returned no token for the gateway's audience")
    if not isinstance(expires, int | float):
        expires = time.time() + float(answer.get("expires_in", 300))
    entry = {
        k: about[k] for k in ("issuer", "client_id", "audience", "token_endpoint") if k in about
    }
    entry.update({"token": chosen, "expires_at": float(expires)})
    if isinstance(answer.get("refresh_token"), str):
        entry["refresh_token"] = answer["refresh_token"]
    return entry
