"""The redaction corpus: statements that carry a secret, and what must stay readable.

Each ``Secret`` case is a statement with ``{s}`` where the secret goes (filled with a value no
other part of the text contains); after ``redact`` the secret must be gone and every ``keep``
string still there. ``CLEAN`` are statements with nothing secret: redaction leaves them
exactly as they are. Grow it with every new spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLEAN", "SECRETS", "Secret"]


@dataclass(frozen=True)
class Secret:
    sql: str
    keep: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.sql


def _cases(keep: tuple[str, ...], *sqls: str) -> list[Secret]:
    return [Secret(sql, keep) for sql in sqls]


ROLES = _cases(
    ("app",),
    "ALTER ROLE app PASSWORD '{s}'",
    "alter role app with password '{s}'",
    "ALTER ROLE app WITH LOGIN ENCRYPTED PASSWORD '{s}' VALID UNTIL 'infinity'",
    "ALTER ROLE app PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==${s}:c2VydmVy'",
    "ALTER ROLE app PASSWORD 'md5{s}'",
    "ALTER ROLE app PASSWORD E'{s}\\'quoted'",
    "ALTER ROLE app PASSWORD E'\\x{s}'",
    "ALTER ROLE app PASSWORD $${s}$$",
    "ALTER ROLE app PASSWORD $pw${s}$pw$",
    "ALTER ROLE app PASSWORD U&'{s}\\0041'",
    "ALTER ROLE app PASSWORD U&'{s}!0041' UESCAPE '!'",
    "ALTER ROLE app PASSWORD '{s}'\n'continued'",
    "ALTER ROLE app /* comment */ PASSWORD /* here */ '{s}' -- trailing",
    "ALTER\tROLE\napp\nPASSWORD\n'{s}'",
    "ALTER ROLE \"app\" PASSWORD '{s}'",
    "ALTER ROLE \"app-x\" PASSWORD '{s}'",
    "SELECT 'café ☕'; ALTER ROLE app PASSWORD '{s}'",
    "ALTER ROLE app PASSWORD 'ünï☕{s}'",
)
USERS = _cases(
    ("app",),
    "CREATE ROLE app LOGIN PASSWORD '{s}'",
    "CREATE USER app WITH PASSWORD '{s}' CREATEDB",
    "CREATE USER app PASSWORD 'SCRAM-SHA-256$4096:{s}'",
    "create group app with encrypted password '{s}'",
    "ALTER USER app WITH PASSWORD '{s}'",
    "ALTER USER app IN DATABASE d SET app.api_key = '{s}'",
    "ALTER GROUP app RENAME TO app; ALTER USER app PASSWORD '{s}'",
    "CREATE ROLE app; ALTER ROLE app PASSWORD '{s}'; GRANT x TO app",
)
MAPPINGS = _cases(
    ("USER MAPPING", "srv"),
    "CREATE USER MAPPING FOR app SERVER srv OPTIONS (user 'remote', password '{s}')",
    "CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER srv OPTIONS (password '{s}')",
    "ALTER USER MAPPING FOR app SERVER srv OPTIONS (SET password '{s}')",
    "ALTER USER MAPPING FOR PUBLIC SERVER srv OPTIONS (ADD user 'u', ADD password '{s}')",
    "CREATE USER MAPPING FOR app SERVER srv OPTIONS (user 'u', sslpassword '{s}')",
    "CREATE USER MAPPING FOR app SERVER srv OPTIONS (user 'u', aws_secret_access_key '{s}')",
    "CREATE USER MAPPING FOR app SERVER srv OPTIONS (user 'u', apikey '{s}')",
    "CREATE USER MAPPING FOR app SERVER srv OPTIONS (user 'u', whatever '{s}')",
)
SERVERS = _cases(
    ("SERVER", "srv", "host"),
    "CREATE SERVER srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', password '{s}')",
    "ALTER SERVER srv OPTIONS (SET host 'h', ADD passwd '{s}')",
    "CREATE SERVER srv FOREIGN DATA WRAPPER odbc_fdw OPTIONS (host 'h', odbc_dsn 'DSN=x;PWD={s}')",
    "CREATE SERVER srv FOREIGN DATA WRAPPER x OPTIONS (host 'h', api_token '{s}')",
    "CREATE FOREIGN TABLE ft (a int) SERVER srv OPTIONS (host 'h', secret '{s}')",
)
SUBSCRIPTIONS = _cases(
    ("SUBSCRIPTION", "host=db"),
    "CREATE SUBSCRIPTION sub CONNECTION 'host=db user=rep password={s} dbname=app' PUBLICATION pub",
    "CREATE SUBSCRIPTION sub CONNECTION 'host=db password = ''{s} x''' PUBLICATION pub",
    "ALTER SUBSCRIPTION sub CONNECTION 'host=db sslpassword={s}'",
    "ALTER SUBSCRIPTION sub CONNECTION E'host=db p\\x61ssword={s}'",
    "ALTER SUBSCRIPTION sub CONNECTION $c$host=db password='{s}'$c$",
    "ALTER SUBSCRIPTION sub CONNECTION 'postgresql://rep:{s}@host=db/app'",
)
DBLINK = _cases(
    ("dblink",),
    "SELECT dblink_connect('host=db password={s}')",
    "SELECT dblink_connect('c1', 'host=db user=u password={s}')",
    "SELECT public.dblink_connect_u('c1', 'hostaddr=1.2.3.4 password={s}')",
    "SELECT * FROM dblink('host=db password={s}', 'SELECT 1') AS t(a int)",
    "SELECT dblink_exec('host=db password={s}', 'DELETE FROM t')",
    "SELECT dblink_connect('host=db ' || 'password=' || '{s}')",
    "SELECT dblink_connect(format('host=db password=%s', '{s}'))",
    "SELECT dblink_open('c1', 'cur', 'SELECT 1'), dblink_connect('postgres://u:{s}@db/x')",
)
PGCRYPTO = _cases(
    ("SELECT",),
    "SELECT pgp_sym_encrypt(data, '{s}') FROM t",
    "SELECT pgp_sym_encrypt(data, '{s}', 'cipher-algo=aes256') FROM t",
    "SELECT pgp_sym_decrypt(enc, '{s}') FROM t",
    "SELECT pgp_sym_decrypt_bytea(enc, $${s}$$) FROM t",
    "SELECT pgp_pub_decrypt(enc, dearmor(k), '{s}') FROM t",
    "SELECT encrypt('data', '{s}', 'aes')",
    "SELECT decrypt(enc, '{s}'::bytea, 'aes') FROM t",
    "SELECT encrypt_iv('data', '{s}', 'iv', 'aes')",
    "SELECT crypt('{s}', gen_salt('bf'))",
    "SELECT * FROM users WHERE pw = crypt('{s}', pw)",
    "SELECT hmac('data', '{s}', 'sha256')",
    "SELECT pg_catalog.hmac('data', text '{s}', 'sha256')",
    "SELECT public.PGP_SYM_ENCRYPT('data', '{s}')",
    "SELECT pgp_sym_encrypt('data', '{s}' || 'tail')",
    "SELECT pgp_sym_encrypt('data', psw => '{s}')",
    "SELECT armor('x'), "
    "'-----BEGIN PGP PRIVATE KEY BLOCK-----\n{s}\n-----END PGP PRIVATE KEY BLOCK-----'",
)
SETTINGS = _cases(
    (),
    "SET app.password = '{s}'",
    "SET app.password = {s}",
    "SET SESSION app.api_key TO '{s}'",
    "SET LOCAL app.secret TO '{s}'",
    "SET app.token = '{s}'",
    "SELECT set_config('app.password', '{s}', false)",
    "SELECT pg_catalog.set_config('app.secret_key', '{s}', true)",
    "SELECT set_config(current_setting('app.which'), '{s}', false)",
    "ALTER SYSTEM SET primary_conninfo = 'host=primary password={s}'",
    "ALTER DATABASE app SET app.credential = '{s}'",
    "ALTER ROLE app SET app.password = '{s}'",
    "SET U&\"app.p\\0061ssword\" = '{s}'",
)
COLUMNS = _cases(
    ("users",),
    "UPDATE users SET password_hash = '{s}' WHERE id = 1",
    "UPDATE users SET (name, api_key) = ('bob', '{s}') WHERE id = 1",
    "INSERT INTO users (name, password) VALUES ('bob', '{s}')",
    "INSERT INTO users (name, api_key) VALUES ('a', 'x'), ('bob', '{s}')",
    "INSERT INTO users (id, token) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET token = '{s}'",
    "SELECT * FROM users WHERE token = '{s}'",
    "SELECT * FROM users WHERE '{s}' = users.refresh_token",
    "SELECT * FROM users WHERE api_key IN ('a', '{s}')",
    "DELETE FROM users WHERE secret = '{s}'",
)
VALUES = _cases(
    ("SELECT",),
    "SELECT 'postgresql://app:{s}@db.internal:5432/app'",
    "SELECT 'mysql://root:{s}@db/x' AS dsn",
    "SELECT 'host=db password={s}'::text",
    'SELECT \'{{"db_password": "{s}"}}\'::jsonb',
    'SELECT \'{{"api_key": "{s}", "n": 1}}\'::json',
    "SELECT 'Driver=x;Server=db;PWD={s};'",
)
NESTED = _cases(
    (),
    "PREPARE p AS SELECT pgp_sym_encrypt(data, '{s}') FROM t",
    "PREPARE p(text) AS UPDATE users SET password = '{s}' WHERE id = $1",
    "EXPLAIN SELECT pgp_sym_decrypt(enc, '{s}') FROM t",
    "EXPLAIN (ANALYZE, COSTS off) SELECT crypt('{s}', 'x')",
    "SELECT 1; ALTER ROLE app PASSWORD '{s}'; SELECT 2",
    "DO $$ BEGIN ALTER ROLE app PASSWORD '{s}'; END $$",
    "DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''{s}'''; END $$",
    "DO $do$ BEGIN PERFORM dblink_connect('host=db password={s}'); END $do$",
    "DO LANGUAGE plpgsql $$ DECLARE k text := '{s}'; BEGIN PERFORM pgp_sym_encrypt('x', k); END $$",
    "DO 'BEGIN EXECUTE ''ALTER ROLE app PASSWORD ''''{s}''''''; END'",
    'DO LANGUAGE plpython3u $$ plpy.connect("host=db password={s}") $$',
    "DO LANGUAGE plperl $$ my $dsn = 'dbi:Pg:host=db;password={s}'; $$",
    "CREATE FUNCTION f() RETURNS bytea LANGUAGE sql AS $f$ SELECT pgp_sym_encrypt('x', '{s}') $f$",
    "CREATE FUNCTION f() RETURNS bytea LANGUAGE sql "
    "BEGIN ATOMIC SELECT pgp_sym_encrypt('x', '{s}'); END",
    "CREATE PROCEDURE p() LANGUAGE plpgsql AS 'BEGIN ALTER ROLE app PASSWORD ''{s}''; END'",
)
UNPARSEABLE = _cases(
    (),
    "ALTER ROLEX app PASSWORD '{s}'",
    "ALTER ROLE app PASSWORD '{s}",
    "SELECT dblink_connect('host=db password={s}'",
    "ALTER ROLE app PASSWORD $q${s}",
)

SECRETS: list[Secret] = [
    *ROLES,
    *USERS,
    *MAPPINGS,
    *SERVERS,
    *SUBSCRIPTIONS,
    *DBLINK,
    *PGCRYPTO,
    *SETTINGS,
    *COLUMNS,
    *VALUES,
    *NESTED,
    *UNPARSEABLE,
]

CLEAN = [
    "SELECT abalance FROM pgbench_accounts WHERE aid = 42",
    "SELECT * FROM t WHERE name = 'bob' AND id IN (1, 2)",
    "UPDATE t SET name = 'x' WHERE id = 1",
    "INSERT INTO t (id, name) VALUES (1, 'alice')",
    "DELETE FROM t WHERE id = $1",
    "SELECT 'host=db user=app dbname=x'",
    "SELECT digest('abc', 'sha256'), md5('abc')",
    "SELECT * FROM settings WHERE key = 'theme'",
    "CREATE TABLE keys (id int PRIMARY KEY, label text DEFAULT 'none')",
    "ALTER ROLE app VALID UNTIL '2030-01-01'",
    "CREATE ROLE app LOGIN PASSWORD NULL",
    "SET search_path = app, public",
    "SET SESSION AUTHORIZATION bob",
    "SELECT set_config('application_name', 'etl job', false)",
    "CREATE SERVER srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', dbname 'd')",
    "CREATE SUBSCRIPTION sub CONNECTION 'host=db user=rep dbname=app' PUBLICATION pub",
    "SELECT dblink_exec('c1', 'UPDATE t SET name = ''x'' WHERE id = 1')",
    "DO $$ BEGIN RAISE NOTICE 'hello %', now(); END $$",
    "SELECT 'https://example.com/path?q=1'",
    "SELECT E'line\\nbreak'",
]
