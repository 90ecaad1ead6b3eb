"""Anchoring the audit chain (issue 17, class 11): an attacker with write access to the store
edits an audit event and recomputes every hash after it (the bare chain verifies again), and
`airlock audit verify` still fails, naming the first event after the last good checkpoint; a
checkpoint forged with the store's own signing key is refused; an edited decision or review row
is named; the checkpointer never signs a rewritten chain."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select, update
from sqlmodel import col

from approvals import Actor, Identity, Outcome
from gateway.anchoring import anchoring
from gateway.config import load_settings
from gateway.runtime import open_runtime
from store import Checkpoint, CheckpointKey, Database, StoreError, verify
from store.audit import chain_hash
from store.tables import AuditEventRow, DecisionRow, ReviewRow, StoredKeyRow
from tests.gateway.cli.support import airlock_in_thread, write_config
from tests.gateway.cli.test_up import config as up_config
from tests.gateway.cli.test_up import read_until, start
from tests.harness import free_port

ALICE = Identity("alice@example.com", groups=frozenset({"eng"}), actors=(Actor("sql-agent"),))
BOB = Identity("bob@example.com", groups=frozenset({"dba"}))
FIELDS = (
    "seq", "at", "action", "actor_subject", "actor_chain", "connection", "target", "outcome",
    "details", "prev_hash",
)  # fmt: skip


def body(checkpoints: Path, key: Path, extra: str = "") -> str:
    return f"""
[audit]
checkpoint_file = "{checkpoints}"
checkpoint_key_file = "{key}"
{extra}

[[connections]]
name = "pg-test"
type = "postgres"
upstream = "127.0.0.1:5432"
approvers = {{ groups = ["dba"] }}
"""


async def trail(config: Path, tag: str, connection: str = "pg-test") -> list[str]:
    """Three held statements: one approved, one denied, one pending (seven audit events)."""
    async with open_runtime(load_settings(config), upgrade=True) as runtime:
        service = runtime.service
        ids = [
            (
                await service.hold_statement(
                    ALICE, connection, f"DROP TABLE {tag}{n}", risk="high", rule="ddl-destroy"
                )
            ).id
            for n in range(3)
        ]
        await service.decide(ids[0], BOB, Outcome.APPROVE)
        await service.decide(ids[1], BOB, Outcome.DENY, "not today")
        return ids


@pytest.fixture
async def deployment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> tuple[Path, Path, str]:
    """A store (SQLite or PostgreSQL) with 21 events; checkpoints after events 7 and 14."""
    key, checkpoints = tmp_path / "keys" / "checkpoint.pem", tmp_path / "checkpoints.jsonl"
    key.parent.mkdir()
    run = await airlock_in_thread(capsys, "audit", "keygen", "--out", str(key))
    assert run.code == 0, run.err
    config = write_config(tmp_path, database_url, body(checkpoints, key))
    for tag in ("a", "b", "c"):
        await trail(config, tag)
        if tag != "c":
            run = await airlock_in_thread(capsys, "audit", "checkpoint")
            assert run.code == 0, run.err
    return config, checkpoints, database_url


async def rechain(url: str, seq: int, **edit: Any) -> None:
    """What an attacker with write access to the store does: edit event ``seq`` and recompute
    the hash of it and of every event after it, with the store's own hashing code."""
    async with Database(url) as database, database.write() as session:
        query = select(AuditEventRow).where(col(AuditEventRow.seq) >= seq)
        rows = list((await session.scalars(query.order_by(col(AuditEventRow.seq)))).all())
        prev = rows[0].prev_hash
        for row in rows:
            for name, value in (edit if row.seq == seq else {}).items():
                setattr(row, name, value)
            row.prev_hash = prev
            row.hash = prev = chain_hash({name: getattr(row, name) for name in FIELDS})
            session.add(row)


async def denial(url: str, after: int) -> tuple[AuditEventRow, str]:
    """The first ``review.decision`` deny event after ``after`` and its review's id."""
    async with Database(url) as database, database.read() as session:
        row = (
            await session.scalars(
                select(AuditEventRow)
                .where(col(AuditEventRow.seq) > after, col(AuditEventRow.outcome) == "deny")
                .order_by(col(AuditEventRow.seq))
            )
        ).first()
    assert row is not None and row.action == "review.decision"
    return row, row.target


async def approve_in_the_store(url: str, review_id: str) -> None:
    """The rows agree with the rewritten events: the deny becomes an approval everywhere."""
    async with Database(url) as database, database.write() as session:
        await session.execute(
            update(DecisionRow)
            .where(col(DecisionRow.review_id) == review_id)
            .values(outcome="approve", reason=None)
        )
        await session.execute(
            update(ReviewRow).where(col(ReviewRow.id) == review_id).values(state="approved")
        )


async def test_rechained_store_is_caught(
    capsys: pytest.CaptureFixture[str], deployment: tuple[Path, Path, str]
) -> None:
    """Edit a decision event (deny -> approve) and its rows, recompute every hash after it:
    the bare chain verifies, `airlock audit verify` exits 1 naming event 8 (after the last
    good checkpoint, event 7), and the checkpointer refuses to sign the rewritten head."""
    _, checkpoints, url = deployment
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 0, run.err
    assert "checkpoints: 2 verified; the last covers event 14" in run.out
    assert "7 events after it are not anchored yet" in run.out
    event, review_id = await denial(url, after=7)
    assert 8 <= event.seq <= 14
    await rechain(url, event.seq, outcome="approve", details={"reason": None, "break_glass": False})
    final = await final_event(url, review_id)
    await rechain(url, final, outcome="approved")
    await approve_in_the_store(url, review_id)
    async with Database(url) as database:
        assert (await verify(database)).ok  # the bare chain cannot tell
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert run.out.startswith("audit chain intact: 21 events")
    assert "disagrees" not in run.err  # the rows were made to agree: only checkpoints catch it
    assert "checkpoints.jsonl:2: the checkpoint of" in run.err
    assert "signed event 14 with hash" in run.err
    assert "first event after the last good checkpoint: event 8 " in run.err
    assert "(last good checkpoint: event 7 of" in run.err
    before = checkpoints.read_text(encoding="utf-8")
    refused = await airlock_in_thread(capsys, "audit", "checkpoint")
    assert refused.code == 1
    assert "no longer has the hash the last checkpoint signed" in refused.err
    assert checkpoints.read_text(encoding="utf-8") == before


async def final_event(url: str, review_id: str) -> int:
    async with Database(url) as database, database.read() as session:
        seq = await session.scalar(
            select(col(AuditEventRow.seq)).where(
                col(AuditEventRow.target) == review_id, col(AuditEventRow.action) == "review.final"
            )
        )
    assert isinstance(seq, int)
    return seq


def forge(stored_pem: str, checkpoint: Checkpoint) -> str:
    """A checkpoint line for ``checkpoint`` signed with the store's own (P-256) signing key."""
    key = serialization.load_pem_private_key(stored_pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(checkpoint.signed_bytes(), ec.ECDSA(hashes.SHA256()))
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return Checkpoint(checkpoint.seq, checkpoint.hash, checkpoint.seq, checkpoint.at,
                      checkpoint.key, sig).line()  # fmt: skip


async def test_checkpoint_forged_with_the_stores_key_is_refused(
    capsys: pytest.CaptureFixture[str], deployment: tuple[Path, Path, str]
) -> None:
    """The attacker rechains from event 3, then appends a checkpoint of the new head signed with
    the signing key the store keeps: verify names the forged line and event 1 as the first
    event after the last good checkpoint (none: the first checkpoint no longer matches)."""
    _, checkpoints, url = deployment
    await rechain(url, 3, connection="pg-other")
    async with Database(url) as database:
        async with database.read() as session:
            stored = await session.get(StoredKeyRow, "signing_key")
            head = (
                await session.scalars(
                    select(AuditEventRow).order_by(col(AuditEventRow.seq).desc()).limit(1)
                )
            ).one()
        assert stored is not None
    genuine = Checkpoint.parse(checkpoints.read_text(encoding="utf-8").splitlines()[0])
    fake = Checkpoint(head.seq, head.hash, head.seq, datetime.now(UTC), genuine.key)
    with checkpoints.open("a", encoding="utf-8") as handle:
        handle.write(forge(stored.value, fake) + "\n")
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert "checkpoints.jsonl:3: its signature does not verify" in run.err
    assert "signed event 7 with hash" in run.err
    assert "first event after the last good checkpoint: event 1 (last good checkpoint: none" in (
        run.err
    )


async def test_cut_checkpoint_file_and_cut_chain(
    capsys: pytest.CaptureFixture[str], deployment: tuple[Path, Path, str]
) -> None:
    """Events cut off the end are named by the checkpoint that saw them; an emptied checkpoint
    file leaves a non-empty chain unanchored, which verify refuses too."""
    _, checkpoints, url = deployment
    async with Database(url) as database, database.write() as session:
        await session.execute(delete(AuditEventRow).where(col(AuditEventRow.seq) > 10))
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert "says the chain reached event 14; the store has no event 14" in run.err
    assert "first event after the last good checkpoint: event 8 " in run.err
    checkpoints.write_text("", encoding="utf-8")
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert "no signed checkpoint covers the chain" in run.err


async def test_edited_rows_are_named(
    capsys: pytest.CaptureFixture[str], deployment: tuple[Path, Path, str]
) -> None:
    """A decision row made to say approve, another review's state changed, a third review's
    decision deleted: the chain and checkpoints hold, and verify names each row."""
    _, _, url = deployment
    event, review_id = await denial(url, after=0)
    other, _ = await denial(url, after=event.seq)  # a later trail's denial
    async with Database(url) as database, database.write() as session:
        await session.execute(
            update(DecisionRow)
            .where(col(DecisionRow.review_id) == review_id)
            .values(outcome="approve")
        )
        query = select(DecisionRow).where(col(DecisionRow.review_id) == review_id)
        decision = (await session.scalars(query)).one()
        pending = (
            await session.scalars(select(ReviewRow).where(col(ReviewRow.state) == "pending"))
        ).first()
        assert pending is not None
        await session.execute(
            update(ReviewRow).where(col(ReviewRow.id) == pending.id).values(state="approved")
        )
        await session.execute(delete(DecisionRow).where(col(DecisionRow.review_id) == other.target))
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert "checkpoints: 2 verified" in run.out
    assert (
        f"disagrees: decision {decision.id} on review {review_id} by bob@example.com: its "
        f"outcome is 'approve' in the store, 'deny' in audit event {event.seq}"
    ) in run.err
    assert f"disagrees: review {pending.id} is approved in the store; no single review.final" in (
        run.err
    )
    assert (
        f"disagrees: audit event {other.seq} records a decision by bob@example.com on review "
        f"{other.target} that the store does not have"
    ) in run.err


async def test_statement_edit_is_named(
    capsys: pytest.CaptureFixture[str], deployment: tuple[Path, Path, str]
) -> None:
    """A held statement rewritten in the review row (what the approver saw is not what is on
    record) is named without echoing either text."""
    _, _, url = deployment
    async with Database(url) as database, database.write() as session:
        review = (await session.scalars(select(ReviewRow).limit(1))).one()
        await session.execute(
            update(ReviewRow).where(col(ReviewRow.id) == review.id).values(statement="SELECT 1")
        )
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 1
    assert f"disagrees: review {review.id}: its statement in the store differs" in run.err
    assert "SELECT 1" not in run.err


@pytest.mark.parametrize("store_backend", ["sqlite"])
async def test_public_key_alone_verifies_and_env_key_signs(
    capsys: pytest.CaptureFixture[str],
    deployment: tuple[Path, Path, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """An auditor's host with only the public key verifies; a key given through the variable
    named by checkpoint_key_env signs; a key that is not Ed25519 is refused."""
    _, checkpoints, url = deployment
    key = tmp_path / "keys" / "checkpoint.pem"
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    public = f'checkpoint_public_key_file = "{key}.pub"'
    text = body(checkpoints, key, public).replace(f'checkpoint_key_file = "{key}"\n', "")
    audit_config = write_config(auditor, url, text)
    run = await airlock_in_thread(capsys, "audit", "verify", "--config", str(audit_config))
    assert run.code == 0, run.err
    assert "checkpoints: 2 verified" in run.out
    refused = await airlock_in_thread(capsys, "audit", "checkpoint", "--config", str(audit_config))
    assert refused.code == 2
    assert "could not sign checkpoints" in refused.err
    monkeypatch.setenv("TEST_CHECKPOINT_KEY", key.read_text(encoding="utf-8"))
    text = body(checkpoints, key).replace(
        f'checkpoint_key_file = "{key}"', 'checkpoint_key_env = "TEST_CHECKPOINT_KEY"'
    )
    env_config = write_config(tmp_path / "keys", url, text)
    run = await airlock_in_thread(capsys, "audit", "checkpoint", "--config", str(env_config))
    assert run.code == 0, run.err
    assert "event 21 signed" in run.out
    stored = await stored_signing_key(url)
    monkeypatch.setenv("TEST_CHECKPOINT_KEY", stored)
    run = await airlock_in_thread(capsys, "audit", "checkpoint", "--config", str(env_config))
    assert run.code == 2
    assert "the checkpoint key is not an Ed25519 key" in run.err
    assert stored not in run.err


async def stored_signing_key(url: str) -> str:
    async with Database(url) as database, database.read() as session:
        row = await session.get(StoredKeyRow, "signing_key")
    assert row is not None
    return row.value


@pytest.mark.parametrize("store_backend", ["sqlite"])
async def test_running_process_checkpoints_at_start_periodically_and_at_shutdown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    """A process under `anchoring` signs the (empty) head at start, the moved head every
    interval, and the last events at shutdown; every line verifies."""
    key, checkpoints = tmp_path / "checkpoint.pem", tmp_path / "checkpoints.jsonl"
    assert (await airlock_in_thread(capsys, "audit", "keygen", "--out", str(key))).code == 0
    config = write_config(
        tmp_path, database_url, body(checkpoints, key, 'checkpoint_interval = "1s"')
    )
    settings = load_settings(config)
    async with open_runtime(settings) as runtime:
        async with anchoring(settings, runtime.database):
            await wait_for_line(checkpoints, seq=0)
            await runtime.service.hold_statement(
                ALICE, "pg-test", "DROP TABLE x", risk="high", rule="ddl-destroy"
            )
            await wait_for_line(checkpoints, seq=1)
            review = await runtime.service.hold_statement(
                ALICE, "pg-test", "DROP TABLE y", risk="high", rule="ddl-destroy"
            )
            await runtime.service.decide(review.id, BOB, Outcome.DENY, "no")
        seqs = seqs_in(checkpoints)
        assert seqs[:2] == [0, 1] and seqs[-1] == 4
    run = await airlock_in_thread(capsys, "audit", "verify")
    assert run.code == 0, run.err
    assert "the last covers event 4" in run.out


def seqs_in(path: Path) -> list[int]:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line)["seq"] for line in text.splitlines()]


async def wait_for_line(path: Path, *, seq: int) -> None:
    async with asyncio.timeout(10):
        while seq not in await asyncio.to_thread(seqs_in, path):  # noqa: ASYNC110  (a file)
            await asyncio.sleep(0.05)


def test_bad_key_material_never_echoed() -> None:
    """A key that is not PEM is refused with a message that does not contain it."""
    with pytest.raises(StoreError) as refused:
        CheckpointKey.load("not-a-key-SECRET")
    assert "SECRET" not in refused.value.message


@pytest.mark.timeout(120)
@pytest.mark.parametrize("store_backend", ["sqlite"])
async def test_airlock_up_checkpoints_at_start_and_after_its_last_write_on_sigterm(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, database_url: str
) -> None:
    """A real `airlock up` process: a checkpoint of the head it found at start, and on SIGTERM
    one of the head as it stands after every part stopped; verify passes on both."""
    key, checkpoints = tmp_path / "checkpoint.pem", tmp_path / "checkpoints.jsonl"
    assert (await airlock_in_thread(capsys, "audit", "keygen", "--out", str(key))).code == 0
    api_port, pg_port = free_port(), free_port()
    path = up_config(tmp_path, api_port, pg_port)
    audit = f'\n[audit]\ncheckpoint_file = "{checkpoints}"\ncheckpoint_key_file = "{key}"\n'
    path.write_text(path.read_text(encoding="utf-8") + audit, encoding="utf-8")
    await trail(path, "a", "pg-prod")
    proc = await start(path, PG_PROD_PASSWORD="unused")
    try:
        await read_until(proc, f"HTTP API on http://127.0.0.1:{api_port}")
        await wait_for_line(checkpoints, seq=7)
        await trail(path, "b", "pg-prod")  # written while it runs (a second writer)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert seqs_in(checkpoints) == [7, 14]
    run = await airlock_in_thread(capsys, "audit", "verify", "--config", str(path))
    assert run.code == 0, run.err
    assert "checkpoints: 2 verified; the last covers event 14" in run.out
