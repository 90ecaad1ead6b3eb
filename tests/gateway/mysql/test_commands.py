"""The commands beside COM_QUERY: what is relayed (COM_FIELD_LIST, COM_RESET_CONNECTION,
COM_STATISTICS), what is refused in words (COM_CHANGE_USER, a command the gateway does not
relay), and LOCAL INFILE, which the gateway never asks the server for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.mysql import wire as my
from tests.gateway.mysql.support import MyEnv, RawClient, mysql_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MyEnv]:
    async with mysql_env(tmp_path_factory.mktemp("mysql-commands")) as env:
        yield env


@pytest_asyncio.fixture(loop_scope="module")
async def client(env: MyEnv) -> AsyncIterator[RawClient]:
    client = await RawClient.connect(env.port)
    assert (await client.login(env.token)).payload[:1] == b"\x00"
    yield client
    client.close()


async def _serving(client: RawClient) -> None:
    packets = await client.query("SELECT 'serving'")
    assert my.decode_text_row(packets[2].payload, 1) == [b"serving"]


async def test_field_list_is_relayed(client: RawClient) -> None:
    """COM_FIELD_LIST answers the table's column definitions up to its terminator."""
    client.send(b"\x04t\x00")
    names = []
    while not my.is_terminator((packet := await client.read()).payload):
        names.append(my.ColumnDefinition.decode(packet.payload).name)
    assert names == [b"id", b"name", b"ssn", b"card_number", b"email"]
    await _serving(client)


async def test_reset_connection_keeps_the_session(client: RawClient) -> None:
    """COM_RESET_CONNECTION is relayed (OK) and the session goes on."""
    client.send(b"\x1f")
    assert (await client.read()).payload[:1] == b"\x00"
    await _serving(client)


async def test_statistics_is_relayed(client: RawClient) -> None:
    """COM_STATISTICS answers the server's one status string."""
    client.send(b"\x09")
    assert b"Uptime" in (await client.read()).payload
    await _serving(client)


async def test_change_user_is_refused_in_words(client: RawClient) -> None:
    """COM_CHANGE_USER gets ERR 1235 (connect again with the other token); the session goes
    on as before."""
    client.send(b"\x11root\x00\x00")
    error = my.Err.decode((await client.read()).payload)
    assert error.code == 1235 and "COM_CHANGE_USER" in error.message
    await _serving(client)


async def test_unrelayed_command_is_refused(client: RawClient) -> None:
    """COM_SHUTDOWN (and any command the gateway does not relay) gets ERR 1047; never sent
    upstream."""
    client.send(b"\x08\x00")
    error = my.Err.decode((await client.read()).payload)
    assert error.code == 1047
    await _serving(client)


async def test_statement_ids_are_the_gateways(client: RawClient) -> None:
    """COM_STMT_PREPARE answers the gateway's own statement id; an EXECUTE of an id it never
    handed out is 1243, COM_STMT_FETCH without an open cursor 1421, a CLOSE of an unknown id
    gets no answer (as from the server)."""
    client.send(b"\x16SELECT 1")
    ok = (await client.read()).payload
    assert ok[:1] == b"\x00" and int.from_bytes(ok[1:5], "little") == 1
    my.ColumnDefinition.decode((await client.read()).payload)  # no EOF: DEPRECATE_EOF
    client.send(b"\x17\x63\x00\x00\x00\x00\x01\x00\x00\x00")
    assert my.Err.decode((await client.read()).payload).code == 1243
    client.send(b"\x1c\x01\x00\x00\x00\x01\x00\x00\x00")
    assert my.Err.decode((await client.read()).payload).code == 1421
    client.send(b"\x19\x63\x00\x00\x00")
    await _serving(client)


async def test_local_infile_is_never_asked_for(env: MyEnv) -> None:
    """A client that allows LOCAL INFILE still cannot load a file: the gateway clears
    CLIENT_LOCAL_FILES towards the server and the rules block LOAD DATA."""
    import pymysql

    with pytest.raises(pymysql.err.OperationalError) as caught:
        await env.query("LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE t", local_infile=True)
    assert caught.value.args[0] == 1227
    assert env.count() == 3


async def test_backslash_hiding_charsets_are_refused(env: MyEnv) -> None:
    """A connection asking for gbk (or big5, sjis, cp932, gb18030), whose characters can end in
    the backslash byte, is refused with 1115: the server would read texts differently."""
    client = await RawClient.connect(env.port)
    try:
        answer = my.Err.decode((await client.login(env.token, charset=28)).payload)
        assert answer.code == 1115
    finally:
        client.close()
