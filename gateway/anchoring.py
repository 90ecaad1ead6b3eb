"""The audit chain's checkpoints in a running process: the key and the file from ``[audit]``,
a checkpoint when the process starts, every ``checkpoint_interval``, and at shutdown after
every other part has stopped (so the last statements the listeners flushed are covered).

The signing key is read here, from ``checkpoint_key_file`` or the variable named by
``checkpoint_key_env``: never from the store (whoever writes the store must not be able to
sign) and never from the TOML. A process configured with a checkpoint file but no private key
refuses to start: it would leave the chain unanchored while the operator believes otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.errors import ConfigError
from store.errors import CheckpointError, StoreError

if TYPE_CHECKING:  # `airlock audit verify` reads the key and the file without the ORM
    from gateway.config import Settings
    from store import Checkpointer, Database
    from store.checkpoints import CheckpointKey, PublicCheckpointKey

__all__ = ["anchoring", "checkpoint_key", "checkpoint_path", "checkpointer", "public_key"]

log = logging.getLogger("airlock.audit.checkpoint")


def _resolve(settings: Settings, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else settings.config_dir / path


def checkpoint_path(settings: Settings) -> Path | None:
    """The checkpoint file, or None when the chain is not anchored."""
    name = settings.audit.checkpoint_file
    return _resolve(settings, name) if name else None


def checkpoint_key(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> CheckpointKey | None:
    """The private key from ``checkpoint_key_file`` or ``checkpoint_key_env`` (None: neither)."""
    audit, env = settings.audit, os.environ if environ is None else environ
    if audit.checkpoint_key_env:
        pem = env.get(audit.checkpoint_key_env)
        if not pem:
            raise ConfigError(
                f"[audit] checkpoint_key_env: environment variable {audit.checkpoint_key_env} "
                "is not set"
            )
    elif audit.checkpoint_key_file:
        path = _resolve(settings, audit.checkpoint_key_file)
        try:
            pem = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"[audit] checkpoint_key_file: cannot read {path}: {exc}") from exc
    else:
        return None
    try:
        from store.checkpoints import CheckpointKey  # noqa: PLC0415  (cryptography)

        return CheckpointKey.load(pem)
    except CheckpointError as exc:
        raise ConfigError(f"[audit] {exc.message}") from exc


def public_key(settings: Settings, environ: Mapping[str, str] | None = None) -> PublicCheckpointKey:
    """What checkpoints are verified with: ``checkpoint_public_key_file``, else the public
    half of the private key."""
    name = settings.audit.checkpoint_public_key_file
    if name:
        path = _resolve(settings, name)
        try:
            from store.checkpoints import PublicCheckpointKey  # noqa: PLC0415

            return PublicCheckpointKey.load(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"[audit] checkpoint_public_key_file: cannot read {path}") from exc
        except CheckpointError as exc:
            raise ConfigError(f"[audit] {exc.message}") from exc
    key = checkpoint_key(settings, environ)
    if key is None:
        raise ConfigError("[audit] names no checkpoint key to verify with")
    return key.public


def checkpointer(
    settings: Settings, database: Database, environ: Mapping[str, str] | None = None
) -> Checkpointer | None:
    """The checkpointer of ``[audit]`` (None when the chain is not anchored); ConfigError when
    a checkpoint file is configured but no private key to sign with."""
    path = checkpoint_path(settings)
    if path is None:
        return None
    key = checkpoint_key(settings, environ)
    if key is None:
        raise ConfigError(
            "[audit] checkpoint_file is set but neither checkpoint_key_file nor "
            "checkpoint_key_env: this process could not sign checkpoints"
        )
    from store import Checkpointer  # noqa: PLC0415  (see the imports)

    return Checkpointer(database, key, path)


@contextlib.asynccontextmanager
async def anchoring(settings: Settings, database: Database) -> AsyncIterator[None]:
    """Checkpoint now and every ``checkpoint_interval`` while the block runs, and once more
    when it ends (after whatever ran inside it has stopped writing)."""
    import asyncio  # noqa: PLC0415  (`audit verify` imports this module, without a loop)

    signer = checkpointer(settings, database)
    if signer is None:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(signer.run(stop, settings.audit.checkpoint_interval))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        try:
            made = await signer.checkpoint()
        except CheckpointError as exc:
            log.error("audit checkpoint at shutdown refused: %s", exc.message)
        except (StoreError, OSError) as exc:
            log.error("audit checkpoint at shutdown failed: %s", exc)
        else:
            if made is not None:
                log.info("audit checkpoint at shutdown: event %d", made.seq)
