"""``airlock token create``: mint a gateway token with the deployment's signing key."""

from __future__ import annotations

import argparse
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["cmd_token_create"]


def cmd_token_create(args: argparse.Namespace) -> int:
    """Mint a token with the deployment's signing key: ``AIRLOCK_SIGNING_KEY`` when set (then
    nothing else is read: neither the configuration nor the store), else the key kept in the
    store (the store alone, not the runtime)."""
    from gateway.durations import parse_duration  # noqa: PLC0415
    from gateway.errors import UsageError  # noqa: PLC0415

    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        raise UsageError(f"--ttl: {exc}") from exc
    groups = [g.strip() for g in (args.groups or "").split(",") if g.strip()]
    # The variable the settings read it from (gateway.config, _SECRETS): with it set, the
    # settings would hold it and the store would not be asked, so they need not be loaded.
    pem = os.environ.get("AIRLOCK_SIGNING_KEY") or _configured_key(args)
    from approvals.model import IdentityKind  # noqa: PLC0415
    from gateway.identity.tokens import TokenService, load_key  # noqa: PLC0415

    token = TokenService(load_key(pem)).mint(
        args.subject,
        groups=groups,
        kind=IdentityKind(args.kind),
        email=args.email or (args.subject if "@" in args.subject else None),
        ttl=ttl,
    )
    print(f"# token for {args.subject} (groups: {', '.join(groups) or '-'}; valid {args.ttl})")
    print(token)
    return 0


def _configured_key(args: argparse.Namespace) -> str:
    """The signing key the settings name, else the one kept in the store."""
    from gateway.config import load_settings  # noqa: PLC0415  (pydantic: only here)

    settings = load_settings(args.config)
    return settings.signing_key or _run_async(_stored_key(settings))


async def _stored_key(settings: Settings) -> str:
    """The signing key kept in the store (made once), as ``open_runtime`` finds it: a SQLite
    store is migrated first, any other must have its schema."""
    from gateway.identity.tokens import generate_key  # noqa: PLC0415
    from gateway.store_schema import require_schema  # noqa: PLC0415
    from store import Database, keys, migrate  # noqa: PLC0415

    url = settings.store.url
    if url.startswith("sqlite"):
        await migrate.upgrade(url)
    else:
        await require_schema(url)
    database = Database(url)
    try:
        return await keys.get_or_create(database, lambda: generate_key().private_pem())
    finally:
        await database.close()


def _run_async(coro: Coroutine[Any, Any, str]) -> str:
    import asyncio  # noqa: PLC0415

    return asyncio.run(coro)
