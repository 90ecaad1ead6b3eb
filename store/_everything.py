"""Every name :mod:`store` exports, imported at once: what ``import store`` did before the
package loaded its names on first use (see ``store/__init__.py``, whose ``__all__`` lists
them)."""

# ruff: noqa: F401

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
