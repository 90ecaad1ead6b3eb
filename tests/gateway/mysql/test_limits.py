"""The session caps through the MySQL listener: past ``[gateway] max_sessions`` a session is
refused with 1040 before anything opens upstream; its place is free again once one ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pymysql
import pytest

from tests.gateway.mysql.support import mysql_env


async def test_past_the_cap_is_1040(tmp_path: Path) -> None:
    """With max_sessions = 1 a second session is refused with 1040; after the first ends, a
    new one is served."""
    async with mysql_env(tmp_path, gateway_options={"max_sessions": 1}) as env:
        first = await asyncio.to_thread(env.connect)
        try:
            with pytest.raises(pymysql.err.OperationalError) as caught:
                await asyncio.to_thread(env.connect)
            assert caught.value.args[0] == 1040
        finally:
            first.close()
        for _ in range(50):  # the first session's end frees its place
            try:
                assert await env.query("SELECT 1") == ((1,),)
                break
            except pymysql.err.OperationalError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the place was never freed")
