"""Masking through the MySQL listener: column rules bound to the real column (through aliases),
detectors on the rest, ERR texts masked too, and the tally in the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pymysql
import pytest
import pytest_asyncio

from gateway.mysql import wire as my
from tests.gateway.mysql.support import ROWS, MyEnv, RawClient, mysql_env

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
    """An ERR that quotes a masked value (strict mode's failed cast in a bounded UPDATE)
    reaches the client masked."""
    with pytest.raises(pymysql.err.MySQLError) as caught:
        await env.query("UPDATE t SET name = name WHERE id = 1 AND ssn + 0 = 1")
    assert caught.value.args[0] == 1292
    assert "078-05-1121" not in caught.value.args[1]


async def test_copies_of_masked_columns_are_refused(env: MyEnv) -> None:
    """A statement that would copy a masked column where it is read unmasked (INSERT ...
    SELECT, SET @v) is refused with 1227 naming the route (the dialect's masking/copy)."""
    env.direct("CREATE TABLE IF NOT EXISTS u (ssn VARCHAR(20))")
    for sql in (
        "INSERT INTO u SELECT ssn FROM t WHERE id = 1",
        "SET @v = (SELECT ssn FROM t LIMIT 1)",
    ):
        with pytest.raises(pymysql.err.OperationalError) as caught:
            await env.query(sql)
        assert caught.value.args[0] == 1227
        assert "masking/copy" in caught.value.args[1]
    assert env.direct("SELECT count(*) FROM u") == ((0,),)


async def test_derived_table_outputs_are_masked(env: MyEnv) -> None:
    """A masked column read through a derived table or a CTE is masked (MariaDB reports its
    origin as the derived table's, which no rule names)."""
    env.direct("UPDATE t SET ssn = 'plain-secret-7' WHERE id = 3")  # no detector knows it
    try:
        rows = await env.query("SELECT x FROM (SELECT ssn AS x FROM t WHERE id = 3) d")
        cte = await env.query("WITH c AS (SELECT ssn AS y FROM t WHERE id = 3) SELECT y FROM c")
    finally:
        env.direct("UPDATE t SET ssn = NULL WHERE id = 3")
    assert "plain-secret-7" not in repr(rows) + repr(cte)


async def test_tally_is_audited(env: MyEnv) -> None:
    """The statement's record carries what was masked, by rule."""
    sql = "SELECT ssn FROM t WHERE id <= 2"
    await env.query(sql)
    events = [e for e in await env.reviews.audit() if e.details["statement"] == sql]
    masked = events[-1].details["masked"]
    assert masked and sum(masked.values()) == 2


async def test_field_list_is_relayed_whole(env: MyEnv) -> None:
    """COM_FIELD_LIST on a masking connection answers every column definition (they hold
    names, no values)."""
    client = await RawClient.connect(env.port)
    try:
        assert (await client.login(env.token)).payload[:1] == b"\x00"
        client.send(b"\x04t\x00")
        names = []
        while not my.is_terminator((packet := await client.read()).payload):
            names.append(my.ColumnDefinition.decode(packet.payload).name)
        assert names == [b"id", b"name", b"ssn", b"card_number", b"email"]
    finally:
        client.close()
