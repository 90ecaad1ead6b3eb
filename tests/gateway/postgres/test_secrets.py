"""Secrets in held and recorded statements, through the real gateway: the review, the cards,
the API, the audit trail and the store never hold them; what runs upstream is the exact text
(and bound values), and the review binds to its hash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio

from approvals import Review
from bot.cards import card_from_review, render_html, render_slack
from gateway.sessions.hold import held_sha256
from tests.gateway.postgres.scram import scram_matches
from tests.gateway.postgres.support import Env, gateway_env

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    root = tmp_path_factory.mktemp("secrets")
    async with gateway_env(root) as env:
        await env.upstream("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        env.root = root  # type: ignore[attr-defined]
        yield env


def _read_all(root: Path) -> bytes:
    """Every byte of every file under ``root`` (the store's database, its WAL, the config)."""
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


async def _everything_stored(env: Env, review: Review) -> str:
    """The review through the API, its cards as Slack and the console render them, the whole
    audit trail, and every byte of the store's files: one text to search."""
    async with env.gw.client(env.approver) as http:
        shown = (await http.get(f"/v1/reviews/{review.id}")).text
    card = card_from_review(review, now=datetime.now(UTC), channel="#dba")
    cards = json.dumps(render_slack(card)) + render_html(card)
    await asyncio.sleep(0.3)  # the audit writer's interval
    records = await env.gw.runtime.repository.list_audit(connection=None, limit=10_000)
    audit = json.dumps([(r.action, r.details) for r in records], default=str)
    root: Path = env.root  # type: ignore[attr-defined]
    files = await asyncio.to_thread(_read_all, root)
    return "\n".join((shown, cards, audit, files.decode("utf-8", "replace")))


async def test_a_held_role_password_is_redacted_everywhere_and_set_exactly(env: Env) -> None:
    """ALTER ROLE ... PASSWORD through psql: the review, cards, API, audit and store show
    '<redacted>'; the review's hash is of the exact text; approved, the role's password is the
    secret itself (its SCRAM verifier upstream matches it)."""
    role, secret = f"sec_{uuid.uuid4().hex[:8]}", f"S3cret-{uuid.uuid4().hex}"
    await env.upstream(f"CREATE ROLE {role} LOGIN")
    try:
        text = f"ALTER ROLE {role} PASSWORD '{secret}'"
        running = asyncio.create_task(env.psql(text))
        review = await env.pending_review()
        assert review.statement == f"ALTER ROLE {role} PASSWORD '<redacted>'"
        assert review.statement_sha256 == hashlib.sha256(text.encode()).hexdigest()
        assert (await env.upstream("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role))[
            0
        ]["rolpassword"] is None  # held: nothing ran
        await env.decide(review.id, "approve", "rotation")
        code, _, err = await running
        assert code == 0, err
        rows = await env.upstream("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role)
        assert scram_matches(rows[0]["rolpassword"], secret)
        final = await env.final_review(review.id)
        everything = await _everything_stored(env, final)
        assert secret not in everything
        assert "PASSWORD '<redacted>'" in everything
        texts = [e.details["statement"] for e in await env.audit()]
        logged = [text for text in texts if role in text]
        assert logged == [f"ALTER ROLE {role} PASSWORD '<redacted>'"]
    finally:
        await env.upstream(f"DROP ROLE IF EXISTS {role}")


async def test_a_bound_key_is_redacted_on_the_card_and_hashed_with_the_values(env: Env) -> None:
    """psycopg binds a pgcrypto key ($1 in a key position): the card's parameters show
    '<redacted>', the hash covers text and values as Bind carries them, and the approved
    statement ran with the real key (upstream decrypts its result with it)."""
    key = f"k3y-{uuid.uuid4().hex}"
    text = "SELECT pgp_sym_encrypt('payload', $1)"
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        running = asyncio.create_task(conn.execute(text.replace("$1", "%s"), (key,)))
        review = await env.pending_review()
        assert review.statement == f"{text}\n-- parameters: '<redacted>'"
        assert review.statement_sha256 == held_sha256(text, (key.encode(),))
        assert (
            review.statement_sha256
            == hashlib.sha256(
                text.encode() + len(key).to_bytes(4, "big") + key.encode()
            ).hexdigest()
        )
        await env.decide(review.id, "approve", "ok")
        cursor = await running
        (encrypted,) = await cursor.fetchone() or (None,)
    rows = await env.upstream("SELECT pgp_sym_decrypt($1::bytea, $2) AS d", encrypted, key)
    assert rows[0]["d"] == "payload"
    assert key not in await _everything_stored(env, await env.final_review(review.id))


async def test_an_allowed_statement_with_a_secret_is_recorded_redacted(env: Env) -> None:
    """An allowed read carrying a connection URI with a password runs and returns it, while the
    session's statement log (audit, sessions API) keeps the host and drops the password."""
    secret = f"pw{uuid.uuid4().hex}"
    uri = f"postgresql://app:{secret}@db.internal:5432/app"
    async with await psycopg.AsyncConnection.connect(env.dsn_via(), autocommit=True) as conn:
        cursor = await conn.execute(f"SELECT '{uri}' AS dsn, 1 AS one")
        assert await cursor.fetchone() == (uri, 1)
    events = [e for e in await env.audit() if "db.internal" in e.details["statement"]]
    assert [e.details["statement"] for e in events] == [
        "SELECT 'postgresql://app:<redacted>@db.internal:5432/app' AS dsn, 1 AS one"
    ]
    async with env.gw.client(env.token) as http:  # alice's own session
        answer = await http.get(f"/v1/sessions/{events[0].target}")
    assert answer.status_code == 200, answer.text
    assert "app:<redacted>@db.internal" in answer.text
    assert secret not in answer.text
