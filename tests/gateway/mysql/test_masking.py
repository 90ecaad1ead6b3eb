"""Masking through the MySQL listener: column rules bound to the real column (through aliases),
detectors on the rest, ERR texts masked too, and the tally in the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pymysql
import pytest
import pytest_asyncio

from tests.gateway.mysql.support import ROWS, MyEnv, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")
MASKING = {"columns": ["ssn", "card_number"], "detectors": ["credit_card", "ssn", "email"]}
SECRETS = [value for row in ROWS for value in row[2:4] if value]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    async with mysql_env(tmp_path_factory.mktemp("mysql-masking"), masking=MASKING) as env:
        yield env


def _clear(rows: object) -> list[str]:
    shown = repr(rows)
    return [secret for secret in SECRETS if secret in shown]


async def test_column_rules_mask_through_aliases(env: MyEnv) -> None:
    """ssn and card_number are masked by their real column, also under an alias; other
    columns come back as they are."""
    rows = await env.query("SELECT id, name, ssn AS x, card_number FROM t ORDER BY id")
    assert _clear(rows) == []
    assert [(r[0], r[1]) for r in rows] == [(r[0], r[1]) for r in ROWS]
    assert rows[2][2] is None  # NULL stays NULL


async def test_detectors_mask_computed_columns(env: MyEnv) -> None:
    """A computed column that carries a card number or an e-mail is caught by the detectors."""
    rows = await env.query("SELECT CONCAT('card ', card_number), email FROM t WHERE id = 1")
    assert "4111111111111111" not in repr(rows)
    assert "alice@example.com" not in repr(rows)


async def test_error_texts_are_masked(env: MyEnv) -> None:
    """An ERR that quotes a masked value (a duplicate key) reaches the client masked."""
    env.direct("CREATE TABLE u (ssn VARCHAR(20) PRIMARY KEY)")
    env.direct("INSERT INTO u VALUES ('078-05-1121')")
    with pytest.raises(pymysql.err.IntegrityError) as caught:
        await env.query("INSERT INTO u SELECT ssn FROM t WHERE id = 1")
    assert caught.value.args[0] == 1062
    assert "078-05-1121" not in caught.value.args[1]


async def test_tally_is_audited(env: MyEnv) -> None:
    """The statement's record carries what was masked, by rule."""
    sql = "SELECT ssn FROM t WHERE id <= 2"
    await env.query(sql)
    events = [e for e in await env.reviews.audit() if e.details["statement"] == sql]
    masked = events[-1].details["masked"]
    assert masked and sum(masked.values()) == 2
