"""psql through the gateway against the real PostgreSQL: queries, meta-commands, \\copy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with gateway_env(tmp_path_factory.mktemp("psql"), review_timeout="3s") as env:
        yield env


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_table(env: Env) -> None:
    await env.reset()


async def test_query(env: Env) -> None:
    """A SELECT returns the upstream's rows in order."""
    code, out, err = await env.psql("SELECT id, name FROM t ORDER BY id")
    assert code == 0, err
    assert out.splitlines() == ["1|alice", "2|bob", "3|carol"]


async def test_describe_table(env: Env) -> None:
    """\\d t shows the table's columns, \\di its primary key (catalog queries pass)."""
    code, out, err = await env.psql(script="\\d t\n\\di\n")
    assert code == 0, err
    assert "card_number|text|||" in out and "|t_pkey|index|" in out


async def test_list_tables(env: Env) -> None:
    """\\dt lists table t."""
    code, out, err = await env.psql("\\dt")
    assert code == 0, err
    assert "|t|table|" in out


async def test_copy_from_stdin(env: Env) -> None:
    """\\copy t from stdin loads rows through the gateway."""
    script = "\\copy t (id, name) from stdin\n10\tdave\n11\terin\n\\.\nSELECT count(*) FROM t;\n"
    code, out, err = await env.psql(script=script)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "5"
    assert await env.count() == 5


async def test_copy_to_stdout(env: Env) -> None:
    """\\copy t to stdout streams the table on a connection without masking."""
    code, out, err = await env.psql("\\copy (SELECT id, name FROM t ORDER BY id) to stdout")
    assert code == 0, err
    assert out.splitlines() == ["1\talice", "2\tbob", "3\tcarol"]


async def test_on_error_stop(env: Env) -> None:
    """With ON_ERROR_STOP, psql stops at the first error and exits 3; later lines never run."""
    script = "SELECT 1;\nSELECT nope FROM t;\nINSERT INTO t (id) VALUES (99);\n"
    code, _, err = await env.psql(script=script)
    assert code == 3
    assert 'column "nope" does not exist' in err
    assert await env.count() == 3


async def test_multi_statement(env: Env) -> None:
    """A multi-statement string runs every statement; psql shows each result."""
    code, out, err = await env.psql(
        "INSERT INTO t (id, name) VALUES (20, 'x'); SELECT count(*) FROM t; SELECT 7"
    )
    assert code == 0, err
    assert out.splitlines()[-2:] == ["4", "7"]


async def test_transaction_rollback(env: Env) -> None:
    """BEGIN / INSERT / ROLLBACK leaves the table as it was."""
    script = "BEGIN;\nINSERT INTO t (id) VALUES (30);\nROLLBACK;\n"
    code, _, err = await env.psql(script=script)
    assert code == 0, err
    assert await env.count() == 3


async def test_error_keeps_session(env: Env) -> None:
    """Without ON_ERROR_STOP an error is reported and the next statement still runs."""
    script = "\\set ON_ERROR_STOP 0\nSELECT 1/0;\nSELECT 'after';\n"
    _, out, err = await env.psql(script=script)
    assert "division by zero" in err
    assert out.strip() == "after"


async def test_effects_then_copy_in_one_query(env: Env) -> None:
    """A statement with session effects and COPY FROM STDIN in one Query (psql -c) does not
    wait for itself to finish: the COPY data still flows."""
    sql = "PREPARE p AS SELECT 1; COPY t (id, name) FROM STDIN"
    code, _, err = await env.psql(sql, script="40\tx\n\\.\n", within=10)
    assert code == 0, err
    assert await env.count() == 4
    code, out, err = await env.psql("DEALLOCATE ALL; SELECT 2")
    assert (code, out.split()[-1]) == (0, "2"), err
