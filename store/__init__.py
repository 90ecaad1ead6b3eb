"""The store: SQLModel tables, the async engine (SQLite by default, PostgreSQL for scale-out),
the repository implementing the approvals ports, the hash-chained audit log, the outbox and the
event bus, and the alembic migrations. Depends on :mod:`approvals` only.

The names below load on first use (PEP 562), and the first use of any of them loads them all,
as ``import store`` always did (every table registered, every module ready). Importing one
module of the package directly (``from store.chain import ChainWalk``) loads that module and
what it imports, no more: ``airlock audit verify`` on a SQLite file reads the chain that way,
without SQLAlchemy (docs/benchmarks.md, "Approvals and the command line").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store import keys, migrate
    from store.access_review import AccessReviews
    from store.agreement import disagreements
    from store.anchor import AnchorReport, Checkpointer, verify_anchored
    from store.audit import (
        GENESIS,
        AuditFilter,
        PlainDetails,
        VerifyResult,
        export_audit,
        iter_audit,
        verify,
    )
    from store.audit_writer import AuditWriter, SessionEnd
    from store.bus import ALL_TOPICS, InProcessBus, PostgresBus, bus_for, create_bus
    from store.checkpoints import (
        Checkpoint,
        CheckpointKey,
        PublicCheckpointKey,
        generate_key_pem,
        read_checkpoints,
    )
    from store.digests import ChatNotice, DigestStore
    from store.engine import Database, create_engine
    from store.errors import (
        CheckpointError,
        IntegrityError,
        InvalidRecord,
        MigrationError,
        StaleWrite,
        StoreError,
        StoreFull,
        Unavailable,
    )
    from store.health import StoreHealth
    from store.identities import IdentityStore, ServiceAccount
    from store.journaled import journaled_upto, record_replayed
    from store.migrate import current_revision, downgrade, migrate_sync, upgrade
    from store.outbox import CHANNEL, Outbox
    from store.records import (
        AuditRecord,
        ChatMessage,
        OutboxEvent,
        ReplicaRecord,
        SessionEvent,
        SessionRecord,
    )
    from store.replicas import REPLICA_REAPED, REPLICA_STOPPED
    from store.repository import SqlRepository
    from store.scheduling import PendingReview, SchedulerStore
    from store.ssh_keys import SshKey, SshKeyStore
    from store.transaction import SqlTransaction

__all__ = [
    "ALL_TOPICS",
    "CHANNEL",
    "GENESIS",
    "REPLICA_REAPED",
    "REPLICA_STOPPED",
    "AccessReviews",
    "AnchorReport",
    "AuditFilter",
    "AuditRecord",
    "AuditWriter",
    "ChatMessage",
    "ChatNotice",
    "Checkpoint",
    "CheckpointError",
    "CheckpointKey",
    "Checkpointer",
    "Database",
    "DigestStore",
    "IdentityStore",
    "InProcessBus",
    "IntegrityError",
    "InvalidRecord",
    "MigrationError",
    "Outbox",
    "OutboxEvent",
    "PendingReview",
    "PlainDetails",
    "PostgresBus",
    "PublicCheckpointKey",
    "ReplicaRecord",
    "SchedulerStore",
    "ServiceAccount",
    "SessionEnd",
    "SessionEvent",
    "SessionRecord",
    "SqlRepository",
    "SqlTransaction",
    "SshKey",
    "SshKeyStore",
    "StaleWrite",
    "StoreError",
    "StoreFull",
    "StoreHealth",
    "Unavailable",
    "VerifyResult",
    "bus_for",
    "create_bus",
    "create_engine",
    "current_revision",
    "disagreements",
    "downgrade",
    "export_audit",
    "generate_key_pem",
    "iter_audit",
    "journaled_upto",
    "keys",
    "migrate",
    "migrate_sync",
    "read_checkpoints",
    "record_replayed",
    "upgrade",
    "verify",
    "verify_anchored",
]

_SUBMODULES = frozenset({"keys", "migrate"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    everything = importlib.import_module(f"{__name__}._everything")
    globals().update({key: getattr(everything, key) for key in __all__})
    return globals()[name]
