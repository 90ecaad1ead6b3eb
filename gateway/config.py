"""Typed settings: one TOML file (default ``./airlock.toml``) plus ``AIRLOCK_*`` overrides.

Built once by :func:`load_settings` and passed down explicitly; nothing reads the environment
behind the caller's back. Secrets never live in the TOML: a connection names the environment
variable (``password_env``) or file (``password_file``) that holds its password; the gateway's
signing key comes from ``AIRLOCK_SIGNING_KEY`` (or is kept in the store).

Environment overrides use ``__`` for nesting: ``AIRLOCK_STORE__URL``, ``AIRLOCK_API__LISTEN``
(:mod:`gateway.overrides`, which reads them as pydantic-settings did).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from approvals.model import AccessMode, ApproverRule, Connection, Escalation, Owners
from approvals.subjects import canonical
from gateway.durations import parse_duration
from gateway.errors import ConfigError
from gateway.overrides import environment_overrides, merge

__all__ = [
    "AuditSettings",
    "ConnectionConfig",
    "GatewaySettings",
    "SchedulerSettings",
    "Settings",
    "load_settings",
    "parse_duration",
    "split_hostport",
]


def split_hostport(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5432"`` → ("127.0.0.1", 5432); ``"[::1]:5432"`` works too."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    url: str = "sqlite+aiosqlite:///airlock.db"


class ApiSettings(_Section):
    listen: str = "127.0.0.1:8080"
    admin_groups: list[str] = ["airlock-admins"]
    auditor_groups: list[str] = ["security", "auditors"]
    # Service accounts in these groups (the chat bot) may record a decision for a named person.
    bot_groups: list[str] = ["airlock-bots"]
    public_url: str | None = None


class ListenerSettings(_Section):
    postgres: str | None = "127.0.0.1:15432"
    mysql: str | None = None
    ssh: str | None = None
    allow_plaintext: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    # The SSH listener's host key (a private key file, OpenSSH format); made (Ed25519, 0600)
    # when the file does not exist. None: a new key each start (docs/ssh.md).
    ssh_host_key: str | None = None


class ChatSettings(_Section):
    provider: Literal["console", "slack", "teams"] = "console"
    dev_mode: bool = False  # true only on a laptop: anyone reaching /chat could act as anyone


class IdentitySettings(_Section):
    """``[identity]``: the OIDC issuer whose tokens are accepted, token exchange, service
    accounts, usage flushing (docs/identity.md)."""

    issuer: str | None = None
    audience: str = "airlock"
    groups_claim: str = "groups"  # a dotted path ("realm_access.roles") works too
    subject_claim: str = "email"  # falls back to "sub" when absent or not verified
    client_id: str | None = None  # `airlock login`'s OAuth client (default: audience)
    login_scopes: list[str] = ["openid", "email", "profile"]
    leeway: timedelta = timedelta(seconds=60)
    jwks_min_refresh: timedelta = timedelta(seconds=10)
    max_chain_depth: int = Field(default=4, ge=1, le=16)
    exchange_ttl: timedelta = timedelta(hours=1)
    service_token_ttl: timedelta = timedelta(hours=1)
    usage_flush: timedelta = timedelta(seconds=30)
    # Failed client-credentials attempts (each an scrypt) per client id and in all, per window;
    # past either budget the token endpoint answers 429 slow_down without running scrypt.
    client_failures_per_client: int = Field(default=10, ge=1)
    client_failures: int = Field(default=100, ge=1)
    client_failure_window: timedelta = timedelta(minutes=1)
    scrypt_concurrency: int = Field(default=2, ge=1, le=64)
    # While the OIDC issuer cannot be read: no new fetch for issuer_retry_min, doubling up to
    # issuer_retry_max; tokens that need the issuer are refused meanwhile.
    issuer_retry_min: timedelta = timedelta(seconds=1)
    issuer_retry_max: timedelta = timedelta(minutes=1)

    @field_validator(
        "leeway", "jwks_min_refresh", "exchange_ttl", "service_token_ttl", "usage_flush",
        "client_failure_window", "issuer_retry_min", "issuer_retry_max", mode="before",
    )  # fmt: skip
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("client_failure_window", "issuer_retry_min")
    @classmethod
    def _a_second_at_least(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


_SCHEDULER_MINIMUMS = {
    "interval": (timedelta(seconds=1), "1s"),
    "outbox_retention": (timedelta(days=1), "1d (a consumer down longer misses events)"),
}


class SchedulerSettings(_Section):
    """``[scheduler]`` (docs/scheduler.md): how often the jobs run, the reminder backoff, the
    expiry notice, the weekly digest's day / time / time zone, what counts as unused."""

    enabled: bool = True  # run the scheduler inside `airlock up`
    interval: timedelta = timedelta(minutes=1)
    reminder_backoff: list[timedelta] = [
        timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=45)
    ]  # fmt: skip
    expiry_notice: timedelta = timedelta(days=1)
    digest_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    digest_time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    digest_timezone: str = "UTC"
    unused_after: timedelta = timedelta(days=30)
    outbox_retention: timedelta = timedelta(days=30)

    @field_validator("interval", "expiry_notice", "unused_after", "outbox_retention", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("reminder_backoff", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [parse_duration(v) if isinstance(v, str | int | float) else v for v in value]
        return value

    @field_validator("interval", "outbox_retention")
    @classmethod
    def _at_least(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        least, shown = _SCHEDULER_MINIMUMS[str(info.field_name)]
        if value < least:
            raise ValueError(f"must be at least {shown}")
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class AuditSettings(_Section):
    """``[audit]`` (docs/security.md): signed checkpoints of the audit chain's head.

    ``checkpoint_file`` is the append-only file (JSON Lines) they are appended to; the key that
    signs them is an Ed25519 private key (PEM) read from ``checkpoint_key_file`` or from the
    environment variable named by ``checkpoint_key_env``, never from the store or the TOML.
    A host that only verifies needs ``checkpoint_public_key_file`` alone. Relative paths are
    relative to the configuration file's directory."""

    checkpoint_file: str | None = None
    checkpoint_key_file: str | None = None
    checkpoint_key_env: str | None = None
    checkpoint_public_key_file: str | None = None
    checkpoint_interval: timedelta = timedelta(minutes=5)

    @field_validator("checkpoint_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("checkpoint_interval")
    @classmethod
    def _at_least(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @field_validator("checkpoint_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be the name of an environment variable, not a key")
        return value

    @property
    def anchored(self) -> bool:
        return self.checkpoint_file is not None


class GatewaySettings(_Section):
    """``[gateway]``: the statement journal (docs/security.md). Every statement is
    recorded in it before it is forwarded; what the audit trail never confirmed is replayed into
    it at the next start. ``journal_dir`` unset: ``airlock-journal`` beside a SQLite store's
    file, else ``./airlock-journal``. ``journal_sync``: how often it is synced to the disk, the
    most a power loss may lose. ``shutdown_timeout``: the deadline of a clean shutdown."""

    journal_dir: Path | None = None
    journal_sync: timedelta = timedelta(milliseconds=50)
    journal_segment_bytes: int = Field(default=64 << 20, ge=64 << 10)
    # Session caps (gateway.sessions.limits): sessions of this process, every listener's; and
    # sessions whose actor chain starts with one subject. Past either: PostgreSQL 53300.
    max_sessions: int = Field(default=1000, ge=1, le=1_000_000)
    max_sessions_per_identity: int = Field(default=100, ge=1, le=1_000_000)

    @field_validator("journal_sync", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("journal_sync")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=1) <= value <= timedelta(seconds=10):
            raise ValueError("must be between 1ms and 10s")
        return value

    # Replicas (docs/operations.md, "A crash leaves no ghosts"): each gateway process heartbeats
    # its row in the store every heartbeat_interval; one whose heartbeat is older than
    # replica_dead_after is reaped by another (its sessions ended, its held reviews cancelled).
    heartbeat_interval: timedelta = timedelta(seconds=5)
    replica_dead_after: timedelta = timedelta(seconds=30)
    # Shutdown (docs/operations.md): one deadline from SIGTERM/SIGINT to the process's exit,
    # whatever the store does; what could not be written by then stays in the statement
    # journal (exit 75).
    shutdown_timeout: timedelta = timedelta(seconds=20)
    # Agents (docs/agents.md): an approval of a statement held for an MCP call is a single-use
    # ticket the identical re-send redeems; unused for this long after the decision, it lapses.
    approval_ttl: timedelta = timedelta(minutes=10)

    @field_validator(
        "heartbeat_interval", "replica_dead_after", "shutdown_timeout", "approval_ttl",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _durations(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("heartbeat_interval")
    @classmethod
    def _heartbeat(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=100) <= value <= timedelta(minutes=5):
            raise ValueError("must be between 100ms and 5m")
        return value

    @field_validator("approval_ttl")
    @classmethod
    def _approval_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(hours=24):
            raise ValueError("must be between 1s and 24h")
        return value

    @field_validator("replica_dead_after")
    @classmethod
    def _dead_after(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        beat = info.data.get("heartbeat_interval")
        if isinstance(beat, timedelta) and value < 3 * beat:
            raise ValueError("must be at least three heartbeat_intervals")
        return value

    @field_validator("shutdown_timeout")
    @classmethod
    def _shutdown_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0")
        return value

    def journal_path(self, store_url: str) -> Path:
        """Where the journal lives for a store at ``store_url`` (see the class docstring)."""
        if self.journal_dir is not None:
            return self.journal_dir
        prefix = "sqlite+aiosqlite:///"
        if store_url.startswith(prefix) and store_url[len(prefix) :] not in ("", ":memory:"):
            return Path(store_url[len(prefix) :].split("?", 1)[0]).parent / "airlock-journal"
        return Path("airlock-journal")


class EscalationConfig(_Section):
    """Where an unanswered review goes after its last reminder."""

    channel: str | None = None
    groups: list[str] = []


class ApproversConfig(_Section):
    groups: list[str] = []
    identities: list[str] = []
    channel: str | None = None
    quorum: int = Field(default=1, ge=1, le=10)


class OwnersConfig(_Section):
    channel: str | None = None
    identities: list[str] = []


class MaskingConfig(_Section):
    columns: list[str] = []
    detectors: list[str] = []


_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class RoleConfig(_Section):
    """A role an access request may name: the credential the gateway connects with for it."""

    username: str = Field(min_length=1)
    password_env: str | None = None
    password_file: str | None = None


def _secret(
    owner: str, env_name: str | None, file: str | None, environ: Mapping[str, str]
) -> str | None:
    if env_name:
        value = environ.get(env_name)
        if value is None:
            raise ConfigError(f"{owner}: environment variable {env_name} is not set")
        return value
    if file:
        return Path(file).read_text(encoding="utf-8").rstrip("\n")
    return None


class ConnectionConfig(_Section):
    name: str = Field(pattern=_NAME)
    type: Literal["postgres", "mysql", "ssh", "http", "kubernetes"]
    upstream: str
    database: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    upstream_tls: Literal["disable", "prefer", "require"] = "prefer"
    access: AccessMode = AccessMode.STANDING
    allow_groups: list[str] = []
    owners: OwnersConfig = OwnersConfig()
    approvers: ApproversConfig = ApproversConfig()
    review_timeout: timedelta = timedelta(minutes=15)
    max_grant: timedelta = timedelta(hours=8)
    idle_revoke_after: timedelta | None = None
    break_glass: bool = False
    escalation: EscalationConfig | None = None
    guardrails: Literal["default", "none"] = "default"
    rules: list[dict[str, Any]] = []
    # A filtered DELETE / UPDATE / MERGE the database counts above this many rows is held too
    # (docs/security.md); None: no limit.
    max_rows_unreviewed: int | None = Field(default=None, ge=0)
    # Sessions on this connection at most (below its upstream's max_connections); None: only
    # [gateway] max_sessions and max_sessions_per_identity apply (gateway.sessions.limits).
    max_sessions: int | None = Field(default=None, ge=1)
    masking: MaskingConfig = MaskingConfig()
    roles: dict[str, RoleConfig] = {}
    # SSH connections (docs/ssh.md): the key the gateway logs in upstream with, and how it
    # knows the upstream's host key (a "SHA256:..." fingerprint or a known_hosts file).
    private_key_env: str | None = None
    private_key_file: str | None = None
    host_key: str | None = None
    known_hosts: str | None = None
    allow_sftp: bool = False
    forward_to: list[str] = []
    record_input: bool = False  # asciicast "i" events: keystrokes (passwords too) are kept

    @field_validator("roles")
    @classmethod
    def _role_names(cls, value: dict[str, RoleConfig]) -> dict[str, RoleConfig]:
        for name in value:
            if not re.fullmatch(_NAME, name):
                raise ValueError(f"role name {name!r} must match {_NAME}")
        return value

    @field_validator("review_timeout", "max_grant", "idle_revoke_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return parse_duration(value)
        return value

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, value: str) -> str:
        split_hostport(value)
        return value

    def password(self, environ: dict[str, str] | None = None) -> str | None:
        """The held upstream password, read from its environment variable or file."""
        env = os.environ if environ is None else environ
        return _secret(f"connection {self.name}", self.password_env, self.password_file, env)

    def credential(
        self, role: str | None, environ: dict[str, str] | None = None
    ) -> tuple[str | None, str | None]:
        """(username, password) the gateway connects with for ``role`` (None: the connection's
        own); ConfigError when the connection does not define ``role``."""
        if role is None:
            return self.username, self.password(environ)
        found = self.roles.get(role)
        if found is None:
            raise ConfigError(f"connection {self.name} defines no role {role!r}")
        env = os.environ if environ is None else environ
        owner = f"connection {self.name} role {role}"
        return found.username, _secret(owner, found.password_env, found.password_file, env)

    def private_key(self, environ: dict[str, str] | None = None) -> str | None:
        """The held upstream SSH private key (OpenSSH or PEM text), from its variable or file."""
        env = os.environ if environ is None else environ
        owner = f"connection {self.name}"
        return _secret(owner, self.private_key_env, self.private_key_file, env)

    def policy(self) -> Connection:
        """The domain's view of this connection."""
        return Connection(
            name=self.name,
            type=self.type,
            access=self.access,
            allow_groups=frozenset(self.allow_groups),
            owners=Owners(self.owners.channel, frozenset(self.owners.identities)),
            approvers=ApproverRule(
                groups=frozenset(self.approvers.groups),
                identities=frozenset(self.approvers.identities),
                channel=self.approvers.channel,
                quorum=self.approvers.quorum,
            ),
            review_timeout=self.review_timeout,
            max_grant=self.max_grant,
            idle_revoke_after=self.idle_revoke_after,
            break_glass=self.break_glass,
            escalation=Escalation(self.escalation.channel, frozenset(self.escalation.groups))
            if self.escalation is not None
            else None,
            roles=frozenset(self.roles),
        )


class PersonConfig(_Section):
    email: str
    groups: list[str] = []
    slack_id: str | None = None
    teams_id: str | None = None

    @field_validator("email")
    @classmethod
    def _canonical(cls, value: str) -> str:
        """One spelling per person (approvals.subjects): ``Bob@Example.com`` is bob@example.com."""
        return canonical(value)


class Settings(BaseModel):
    """Everything ``airlock`` needs to run, validated once (``load_settings``: the TOML file,
    then the ``AIRLOCK_*`` environment over it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    listeners: ListenerSettings = ListenerSettings()
    chat: ChatSettings = ChatSettings()
    identity: IdentitySettings = IdentitySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    audit: AuditSettings = AuditSettings()
    gateway: GatewaySettings = GatewaySettings()
    connections: list[ConnectionConfig] = []
    people: list[PersonConfig] = []
    signing_key: str | None = Field(default=None, repr=False)
    config_dir: Path = Path()

    def connection(self, name: str) -> ConnectionConfig | None:
        return next((c for c in self.connections if c.name == name), None)

    @field_validator("people")
    @classmethod
    def _one_entry_per_person(cls, people: list[PersonConfig]) -> list[PersonConfig]:
        seen: set[str] = set()
        for person in people:
            if person.email in seen:
                raise ValueError(f"[[people]] names {person.email} twice (e-mails ignore case)")
            seen.add(person.email)
        return people

    def person(self, email: str) -> PersonConfig | None:
        """The ``[[people]]`` entry with this e-mail (case-insensitive: entries are canonical)."""
        wanted = canonical(email)
        return next((p for p in self.people if p.email == wanted), None)


# Top-level settings that are secrets: only the environment may set them.
_SECRETS = {"signing_key": "AIRLOCK_SIGNING_KEY"}


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the TOML file (``./airlock.toml`` when it exists and none is named) and the env."""
    data: dict[str, Any] = {}
    chosen = Path(path) if path is not None else Path("airlock.toml")
    if chosen.exists():
        try:
            data = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{chosen}: {exc}") from exc
    elif path is not None:
        raise ConfigError(f"no configuration file at {chosen}")
    for secret, variable in _SECRETS.items():
        if secret in data:
            raise ConfigError(
                f"{chosen}: {secret}: secrets are never read from the TOML file; "
                f"set {variable} in the environment instead"
            )
    data["config_dir"] = chosen.resolve().parent
    data = merge(data, environment_overrides(Settings, os.environ))
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{chosen}: {_first_errors(exc)}") from exc
    audit = settings.audit
    keys = (audit.checkpoint_key_file, audit.checkpoint_key_env, audit.checkpoint_public_key_file)
    if audit.anchored and not any(keys):
        raise ConfigError(
            f"{chosen}: [audit] checkpoint_file needs checkpoint_key_file or checkpoint_key_env "
            "(to sign) or checkpoint_public_key_file (to verify)"
        )
    names = [c.name for c in settings.connections]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{chosen}: connection names must be unique: {', '.join(duplicates)}")
    return settings


def _first_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
