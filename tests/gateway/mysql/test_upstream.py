"""The gateway logs in upstream with the credential it holds, in the method the server asks
for: mysql_native_password (every other test), MariaDB's ed25519 here, and a role's own
credential for a session whose delegation names the role."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import ensure_ed25519, maria_admin
from tests.gateway.mysql.support import MyEnv, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
ROLE_PASSWORD_ENV = "AIRLOCK_TEST_MY_ROLE_PASSWORD"


def _admin(*statements: str) -> None:
    admin = maria_admin()
    try:
        with admin.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
    finally:
        admin.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    """my-test as the native user; my-ed as an ed25519 account; my-req with a reader role."""
    user, password = f"airlock_ed_{secrets.token_hex(3)}", f"ed-{secrets.token_hex(8)}"
    reader, reader_password = f"airlock_ro_{secrets.token_hex(3)}", secrets.token_hex(8)
    directory = tmp_path_factory.mktemp("mysql-upstream")
    os.environ["AIRLOCK_TEST_ED_PASSWORD"] = password
    os.environ[ROLE_PASSWORD_ENV] = reader_password
    ed = {"name": "my-ed", "username": user, "password_env": "AIRLOCK_TEST_ED_PASSWORD"}
    role = {
        "name": "my-req", "access": "request",
        "roles": {"reader": {"username": reader, "password_env": ROLE_PASSWORD_ENV}},
    }  # fmt: skip
    ensure_ed25519()  # MariaDB's auth_ed25519, installed once on the test server
    async with mysql_env(directory, connections=[ed, role]) as env:
        _admin(
            f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('{password}')",
            f"GRANT SELECT ON `{env.database}`.* TO '{user}'@'127.0.0.1'",
            f"CREATE USER '{reader}'@'127.0.0.1' IDENTIFIED BY '{reader_password}'",
            f"GRANT SELECT ON `{env.database}`.* TO '{reader}'@'127.0.0.1'",
        )
        try:
            yield env
        finally:
            _admin(
                f"DROP USER IF EXISTS '{user}'@'127.0.0.1'",
                f"DROP USER IF EXISTS '{reader}'@'127.0.0.1'",
            )


async def test_ed25519_upstream(env: MyEnv) -> None:
    """An upstream account that authenticates with ed25519 is logged in with its signature."""
    rows = await env.query("SELECT CURRENT_USER()", "my-ed")
    assert rows[0][0].startswith("airlock_ed_")


async def test_role_picks_the_upstream_credential(env: MyEnv) -> None:
    """A session on a delegation as role reader logs in upstream as the role's user."""
    async with env.gw.client(env.token) as http:
        asked = await http.post(
            "/v1/access-requests",
            json={"connection": "my-req", "duration": "1h", "reason": "INC-7", "role": "reader"},
        )
    assert asked.status_code == 201, asked.text
    await env.reviews.decide(asked.json()["id"], "approve", "ok")
    rows = await env.query("SELECT CURRENT_USER()", "my-req")
    assert rows[0][0].startswith("airlock_ro_")
