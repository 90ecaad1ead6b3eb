"""``airlock demo``: a ready-to-try gateway on this machine.

Creates (or refreshes) a demo database ``airlock_demo`` on the local PostgreSQL with fake
customers (test card numbers, SSNs, e-mails), owned by a least-privilege role
``airlock_demo_rw`` whose password only this process knows, and the same database and user on
the local MariaDB when one answers at 127.0.0.1:3306 (root, no password); writes
``demo/airlock.toml`` with a ``pg-demo`` connection (and ``mysql-demo``), guardrails and
masking on, an Ed25519 key that signs checkpoints of the audit chain
(``demo/audit-checkpoint.key``, made once), and two people, alice (eng) and bob (dba-oncall);
when sshd is installed, an ``ssh-demo`` connection to a local sshd started for the demo
(:mod:`gateway.cli.demo_sshd`) with tunnels to ``pg-demo``; prints tokens, a psql line, a mysql
line and ssh lines; then runs ``airlock up`` on it.
"""

from __future__ import annotations

import os
import secrets
import socket
import warnings
from datetime import timedelta
from pathlib import Path

import aiomysql
import asyncpg

from gateway.cli.demo_sshd import SSH_KEY_ENV, DemoSshd
from gateway.config import Settings, load_settings
from gateway.identity import TokenService
from store import generate_key_pem

__all__ = ["DEMO_PASSWORD_ENV", "demo_settings", "print_welcome", "seed_demo"]

DEMO_DB, DEMO_ROLE = "airlock_demo", "airlock_demo_rw"
DEMO_PASSWORD_ENV = "AIRLOCK_DEMO_PG_PASSWORD"  # noqa: S105  (a variable name)
ADMIN_DSN = os.environ.get(
    "AIRLOCK_DEMO_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MARIA_HOST, MARIA_PORT = "127.0.0.1", 3306  # its root user, no password (as on a dev machine)

CUSTOMERS = [
    ("Ada Lovelace", "ada@example.com", "4111 1111 1111 1111", "078-05-1120"),
    ("Alan Turing", "alan@example.org", "5555 5555 5555 4444", "219-09-9999"),
    ("Grace Hopper", "grace@example.net", "3782 822463 10005", "457-55-5462"),
    ("Edsger Dijkstra", "edsger@example.com", "6011 1111 1111 1117", "323-45-6789"),
    ("Barbara Liskov", "barbara@example.org", "3530 1113 3330 0000", "123-45-6788"),
]

# Who may use each demo connection, who owns it and who approves its holds; and how the
# database connections are guarded and masked: the same for every demo connection.
POLICY = """
access = "standing"
allow_groups = ["eng"]
owners = { channel = "#db-owners", identities = ["carol@example.com"] }
approvers = { groups = ["dba-oncall"], identities = [], channel = "#dba-oncall", quorum = 1 }
review_timeout = "15m"
""".strip()
MASKED = """
guardrails = "default"
masking = { columns = ["ssn", "card_number"], detectors = ["credit_card", "ssn", "email"] }
""".strip()

CONFIG = """\
# Written by `airlock demo`. Secrets are not here: the upstream password is in the
# environment of the demo process ({password_env}{key_env}).
[store]
url = "sqlite+aiosqlite:///{store}"

[api]
listen = "127.0.0.1:8080"

[audit]                                 # the chain's head, signed with a key kept out of the store
checkpoint_file = "{checkpoints}"
checkpoint_key_file = "{checkpoint_key}"

[listeners]
postgres = "127.0.0.1:15432"
{mysql_listener}{ssh_listener}
[chat]
provider = "console"
dev_mode = true

[[connections]]
name = "pg-demo"
type = "postgres"
upstream = "127.0.0.1:5432"
database = "{database}"
username = "{role}"
password_env = "{password_env}"
upstream_tls = "disable"
{policy}
max_grant = "8h"
idle_revoke_after = "14d"
{masked}
{mysql_connection}{ssh_connection}
[[people]]
email = "alice@example.com"
groups = ["eng"]

[[people]]
email = "bob@example.com"
groups = ["dba-oncall"]

[[people]]
email = "carol@example.com"
groups = ["db-owners"]
"""


async def _seed(password: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN, timeout=5)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", DEMO_ROLE)
        if not exists:
            await admin.execute(f"CREATE ROLE {DEMO_ROLE} LOGIN")
        await admin.execute(f"ALTER ROLE {DEMO_ROLE} PASSWORD '{password}'")
        await admin.execute(f"DROP DATABASE IF EXISTS {DEMO_DB} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DEMO_DB} OWNER {DEMO_ROLE}")
    finally:
        await admin.close()
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{DEMO_DB}"
    conn = await asyncpg.connect(dsn, user=DEMO_ROLE, password=password, timeout=5)
    try:
        await conn.execute(
            "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, "
            "card_number text, ssn text, created_at timestamptz DEFAULT now())"
        )
        await conn.executemany(
            "INSERT INTO customers (name, email, card_number, ssn) VALUES ($1, $2, $3, $4)",
            CUSTOMERS,
        )
        await conn.execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, "
            "total numeric(10,2), note text)"
        )
        await conn.execute(
            "INSERT INTO orders (customer_id, total, note) "
            "SELECT 1 + (g % 5), g * 3.5, 'order ' || g FROM generate_series(1, 50) AS g"
        )
    finally:
        await conn.close()


MYSQL_LISTENER = 'mysql = "127.0.0.1:13306"\n'
MYSQL_CONNECTION = """
[[connections]]
name = "mysql-demo"
type = "mysql"
upstream = "{host}:{port}"
database = "{database}"
username = "{role}"
password_env = "{password_env}"
upstream_tls = "disable"
{policy}
{masked}
"""


SSH_LISTENER = """\
ssh = "127.0.0.1:12222"
ssh_host_key = "{host_key}"           # made once: ssh clients know the gateway across runs
"""
SSH_CONNECTION = """
[[connections]]
name = "ssh-demo"
type = "ssh"
upstream = "127.0.0.1:{port}"          # the demo's own sshd (demo/ssh/), for this run
username = "{username}"
private_key_env = "{key_env}"
host_key = "{fingerprint}"
{policy}
forward_to = ["pg-demo"]
"""


def maria_answers() -> bool:
    """Whether something listens where the demo looks for MariaDB (the demo then seeds it)."""
    try:
        with socket.create_connection((MARIA_HOST, MARIA_PORT), timeout=1):
            return True
    except OSError:
        return False


def write_config(workdir: Path, mysql: bool = False, sshd: DemoSshd | None = None) -> Path:
    """Write demo/airlock.toml (with the MySQL connection when ``mysql``, the SSH listener and
    connection when ``sshd`` runs); a fresh upstream password goes into this process's env."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ[DEMO_PASSWORD_ENV] = secrets.token_urlsafe(24)
    key = workdir / "audit-checkpoint.key"
    if not key.exists():  # kept across runs, like the store whose chain it anchors
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(generate_key_pem())
    path = workdir / "airlock.toml"
    path.write_text(
        CONFIG.format(
            policy=POLICY,
            masked=MASKED,
            store=(workdir / "airlock.db").resolve(),
            checkpoints=(workdir / "audit-checkpoints.jsonl").resolve(),
            checkpoint_key=key.resolve(),
            database=DEMO_DB,
            role=DEMO_ROLE,
            password_env=DEMO_PASSWORD_ENV,
            mysql_listener=MYSQL_LISTENER if mysql else "",
            mysql_connection=MYSQL_CONNECTION.format(
                policy=POLICY,
                masked=MASKED,
                host=MARIA_HOST,
                port=MARIA_PORT,
                database=DEMO_DB,
                role=DEMO_ROLE,
                password_env=DEMO_PASSWORD_ENV,
            )
            if mysql
            else "",
            key_env=f", {SSH_KEY_ENV}" if sshd else "",
            ssh_listener=_ssh_listener(workdir) if sshd else "",
            ssh_connection=_ssh_connection(sshd) if sshd else "",
        ),
        encoding="utf-8",
    )
    return path


def _ssh_listener(workdir: Path) -> str:
    return SSH_LISTENER.format(host_key=(workdir / "ssh_host_key").resolve())


def _ssh_connection(sshd: DemoSshd) -> str:
    return SSH_CONNECTION.format(
        policy=POLICY,
        port=sshd.port,
        username=sshd.username,
        key_env=SSH_KEY_ENV,
        fingerprint=sshd.fingerprint,
    )


def demo_settings(workdir: Path, mysql: bool = False, sshd: DemoSshd | None = None) -> Settings:
    """Write the demo's config (and its upstream password into this process's environment)."""
    return load_settings(write_config(workdir, mysql, sshd))


async def seed_demo(mysql: bool = False) -> None:
    """Seed the demo databases; raises OSError/PostgresError when the local PostgreSQL cannot
    be reached, OSError/aiomysql.Error when MariaDB (``mysql``) cannot."""
    await _seed(os.environ[DEMO_PASSWORD_ENV])
    if mysql:
        await _seed_maria(os.environ[DEMO_PASSWORD_ENV])


async def _seed_maria(password: str) -> None:
    """The same customers and orders on MariaDB, owned by a user with rights on that database
    only (mysql_native_password: every MySQL and MariaDB client speaks it)."""
    admin = await aiomysql.connect(host=MARIA_HOST, port=MARIA_PORT, user="root", autocommit=True)
    try:
        async with admin.cursor() as cur:
            with warnings.catch_warnings():  # its note that there was no database to drop
                warnings.simplefilter("ignore")
                await cur.execute(f"DROP DATABASE IF EXISTS {DEMO_DB}")
            await cur.execute(f"CREATE DATABASE {DEMO_DB}")
            await cur.execute(
                f"CREATE OR REPLACE USER '{DEMO_ROLE}'@'%%' IDENTIFIED BY %s", (password,)
            )
            await cur.execute(f"GRANT ALL ON {DEMO_DB}.* TO '{DEMO_ROLE}'@'%'")
            await cur.execute(f"USE {DEMO_DB}")
            await cur.execute(
                "CREATE TABLE customers (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) "
                "NOT NULL, email varchar(200), card_number varchar(32), ssn varchar(16), "
                "created_at timestamp DEFAULT CURRENT_TIMESTAMP)"
            )
            await cur.executemany(
                "INSERT INTO customers (name, email, card_number, ssn) VALUES (%s, %s, %s, %s)",
                CUSTOMERS,
            )
            await cur.execute(
                "CREATE TABLE orders (id int AUTO_INCREMENT PRIMARY KEY, customer_id int, "
                "total decimal(10,2), note varchar(100), "
                "FOREIGN KEY (customer_id) REFERENCES customers (id))"
            )
            await cur.execute(
                "INSERT INTO orders (customer_id, total, note) SELECT 1 + (seq % 5), seq * 3.5, "
                "CONCAT('order ', seq) FROM seq_1_to_50"
            )
    finally:
        admin.close()


def print_welcome(settings: Settings, tokens: TokenService) -> None:
    alice = tokens.mint("alice@example.com", groups=["eng"], ttl=timedelta(hours=8))
    bob = tokens.mint("bob@example.com", groups=["dba-oncall"], ttl=timedelta(hours=8))
    api = f"http://{settings.api.listen}"
    port = (settings.listeners.postgres or ":15432").rpartition(":")[2]
    mysql = ""
    if settings.listeners.mysql is not None:
        my_port = settings.listeners.mysql.rpartition(":")[2]
        mysql = f"""
or with the mysql client (the token is the password; docs/mysql.md has each client's flags):
  mariadb -h 127.0.0.1 -P {my_port} -u alice -p'{alice}' mysql-demo
"""
    ssh = _ssh_welcome(settings.listeners.ssh) if settings.listeners.ssh else ""
    welcome = f"""
Airlock demo
  console chat   {api}/chat
  HTTP API       {api}   (health {api}/healthz)

Connect as alice (group eng) through the gateway:
  PGPASSWORD='{alice}' \\
    psql "host=127.0.0.1 port={port} dbname=pg-demo user=alice sslmode=disable"
{mysql}{ssh}
Try:  SELECT * FROM customers;        (card numbers, SSNs and e-mails come back masked)
      DELETE FROM orders;             (held: approve it in the console chat, or as bob:)
  AIRLOCK_URL={api} AIRLOCK_TOKEN='{bob}' .venv/bin/airlock reviews list
"""  # noqa: S608  (a welcome text, not SQL)
    print(welcome, flush=True)


def _ssh_welcome(listen: str) -> str:
    port = listen.rpartition(":")[2]
    return f"""
or over SSH to the demo's own sshd (ssh asks "Airlock token:": paste alice's token; without a
terminal, an SSH_ASKPASS program that prints it answers for you):
  ssh -p {port} ssh-demo@127.0.0.1 uname -a
  ssh -p {port} ssh-demo@127.0.0.1 'rm -rf /tmp/x'    (held like DELETE, below)
  ssh -p {port} -N -L 15433:pg-demo:5432 ssh-demo@127.0.0.1    (a tunnel to pg-demo that
    keeps the guardrails, holds and masking: psql "host=127.0.0.1 port=15433 ...")
"""
