"""``airlock reviews list|show|approve|deny`` against a running gateway (AIRLOCK_URL and
AIRLOCK_TOKEN from the environment); refusals print `airlock: <message>` and exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from approvals import Actor, Identity, Review
from tests.gateway.cli.support import airlock_in_thread
from tests.harness import RunningGateway, free_port, pg_connection, running_gateway

ALICE = Identity(
    "alice@example.com", groups=frozenset({"eng"}), actors=(Actor("ci-runner"), Actor("sql-agent"))
)


async def hold(gw: RunningGateway, statement: str) -> Review:
    return await gw.runtime.service.hold_statement(
        ALICE, "pg-test", statement, risk="high", rule="ddl-destroy"
    )


def as_caller(monkeypatch: pytest.MonkeyPatch, gw: RunningGateway, token: str) -> None:
    monkeypatch.setenv("AIRLOCK_URL", gw.api_url)
    monkeypatch.setenv("AIRLOCK_TOKEN", token)


async def test_list_show_approve_deny(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An approver lists pending reviews, shows one, approves one and denies another."""
    async with running_gateway(tmp_path, connections=[pg_connection("postgres")]) as gw:
        first = await hold(gw, "DROP TABLE orders")
        second = await hold(gw, "TRUNCATE   customers\n  CASCADE")
        as_caller(monkeypatch, gw, gw.token("bob@example.com", ["dba"]))

        listed = await airlock_in_thread(capsys, "reviews", "list")
        assert listed.code == 0, listed.err
        lines = listed.out.strip().splitlines()
        assert len(lines) == 2
        by_id = {line.split()[0]: line for line in lines}
        assert "pending" in by_id[first.id]
        assert "pg-test" in by_id[first.id]
        assert "0/1" in by_id[first.id]
        assert "alice@example.com → ci-runner → sql-agent" in by_id[first.id]
        assert by_id[first.id].endswith("DROP TABLE orders")
        assert by_id[second.id].endswith("TRUNCATE customers CASCADE")

        shown = await airlock_in_thread(capsys, "reviews", "show", first.id)
        assert shown.code == 0, shown.err
        assert json.loads(shown.out)["statement"] == "DROP TABLE orders"

        approved = await airlock_in_thread(capsys, "reviews", "approve", first.id)
        assert approved.code == 0, approved.err
        assert approved.out.strip() == f"review {first.id} is approved (1/1)"

        denied = await airlock_in_thread(
            capsys, "reviews", "deny", second.id, "--reason", "not during business hours"
        )
        assert denied.code == 0, denied.err
        assert denied.out.strip() == f"review {second.id} is denied (0/1)"
        stored = await gw.runtime.repository.get_review(second.id)
        assert stored is not None
        assert stored.decisions[0].reason == "not during business hours"

        pending = await airlock_in_thread(capsys, "reviews", "list", "--state", "pending")
        assert pending.out.strip() == "no reviews"
        as_json = await airlock_in_thread(capsys, "reviews", "list", "--json", "--state", "denied")
        assert [r["id"] for r in json.loads(as_json.out)] == [second.id]


async def test_refusals_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Policy refusals and API errors print `airlock: <the gateway's message>`, exit 2."""
    async with running_gateway(tmp_path, connections=[pg_connection("postgres")]) as gw:
        review = await hold(gw, "DROP TABLE orders")

        as_caller(monkeypatch, gw, gw.token("mallory@example.com", ["eng"]))
        refused = await airlock_in_thread(capsys, "reviews", "approve", review.id)
        assert (refused.code, refused.out) == (2, "")
        assert refused.err == "airlock: mallory@example.com is not an approver for pg-test\n"

        as_caller(monkeypatch, gw, gw.token("ci-runner", ["dba"]))
        own = await airlock_in_thread(capsys, "reviews", "approve", review.id)
        assert own.code == 2
        assert own.err.startswith("airlock: ci-runner is in the requester's chain")

        as_caller(monkeypatch, gw, gw.token("bob@example.com", ["dba"]))
        assert (await airlock_in_thread(capsys, "reviews", "approve", review.id)).code == 0
        again = await airlock_in_thread(capsys, "reviews", "deny", review.id, "--reason", "x")
        assert again.code == 2
        assert again.err == (
            f"airlock: review {review.id} is already approved by bob@example.com\n"
        )
        missing = await airlock_in_thread(capsys, "reviews", "show", "no-such-review")
        assert (missing.code, missing.err) == (2, "airlock: no review no-such-review\n")

        as_caller(monkeypatch, gw, "not-a-token")
        bad = await airlock_in_thread(capsys, "reviews", "list")
        assert (bad.code, bad.err) == (2, "airlock: token signature or format is invalid\n")


async def test_without_token_or_gateway(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No AIRLOCK_TOKEN, or no gateway at AIRLOCK_URL: a one-line hint, exit 2."""
    monkeypatch.delenv("AIRLOCK_TOKEN", raising=False)
    missing = await airlock_in_thread(capsys, "reviews", "list")
    assert missing.code == 2
    assert missing.err.startswith("airlock: set AIRLOCK_TOKEN")

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRLOCK_URL", url)
    monkeypatch.setenv("AIRLOCK_TOKEN", "anything")
    down = await airlock_in_thread(capsys, "reviews", "list")
    assert down.code == 2
    assert down.err.startswith(f"airlock: cannot reach the gateway at {url}")
    assert len(down.err.splitlines()) == 1


async def test_deny_needs_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """`reviews deny` without --reason is a usage error before anything is sent."""
    with pytest.raises(SystemExit) as exited:
        await airlock_in_thread(capsys, "reviews", "deny", "some-id")
    assert exited.value.code == 2
    assert "--reason" in capsys.readouterr().err


async def test_not_a_gateway(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AIRLOCK_URL pointing at some other web server: a clear hint, exit 2, no traceback."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("AIRLOCK_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AIRLOCK_TOKEN", "anything")
    try:
        run = await airlock_in_thread(capsys, "reviews", "list")
    finally:
        server.close()
        await server.wait_closed()
    assert run.code == 2
    assert "is not JSON: is AIRLOCK_URL an Airlock gateway?" in run.err
    assert "Traceback" not in run.err
