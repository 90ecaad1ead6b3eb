"""The operator's and auditor's side: `airlock scheduler run JOB`, `airlock access-review report`,
`GET /v1/access-reviews`, the `[scheduler]` and `escalation` settings, the scheduler inside
`airlock up`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from approvals import Delegation, Identity
from gateway.cli.compose import JOB_NAMES
from gateway.cli.main import main
from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.runtime import open_runtime
from scheduler import JOBS
from store import SessionRecord
from tests.harness import pg_connection, running_gateway

CONFIG = """
[store]
url = "sqlite+aiosqlite:///{db}"
[scheduler]
interval = "30s"
reminder_backoff = ["2m", "10m"]
digest_day = "fri"
digest_time = "16:30"
digest_timezone = "Europe/Berlin"
[[connections]]
name = "pg-a"
type = "postgres"
upstream = "127.0.0.1:5432"
access = "request"
max_grant = "30d"
owners = {{ identities = ["carol@example.com"] }}
approvers = {{ groups = ["dba"], channel = "#dba-oncall" }}
escalation = {{ channel = "#dba-leads", groups = ["dba-leads"] }}
[[connections]]
name = "pg-b"
type = "postgres"
upstream = "127.0.0.1:5432"
allow_groups = ["eng"]
owners = {{ identities = ["dan@example.com"] }}
"""


def _airlock(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _seed(config: Path) -> None:
    """alice's grant on pg-a (used once, through an agent) ended an hour ago; bob's lasts."""
    now = datetime.now(UTC)
    async with open_runtime(load_settings(config)) as runtime:
        async with runtime.repository.transaction() as tx:
            for subject, ends in (("alice@example.com", -1), ("bob@example.com", 24)):
                await tx.add_delegation(
                    Delegation(f"grant-{subject[:3]}", subject, "pg-a", "rw", "carol@example.com",
                               "INC-7", now - timedelta(days=2), now + timedelta(hours=ends))
                )  # fmt: skip
        await runtime.repository.start_session(
            SessionRecord("s1", Identity("bob@example.com"), "pg-a", now - timedelta(hours=1),
                          stats={"delegation": "grant-bob"})
        )  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "airlock.toml"
    path.write_text(CONFIG.format(db=tmp_path / "airlock.db"), encoding="utf-8")
    asyncio.run(_seed(path))
    return path


def test_scheduler_run_job_runs_it_once_now(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`airlock scheduler run expire` ends the grant that is over and says so; running it again
    finds nothing; `run digest` builds the owners' digests."""
    code, out, _ = _airlock(capsys, "scheduler", "run", "expire", "--config", str(config))
    assert code == 0 and "expire: 1 grants ended" in out
    code, out, _ = _airlock(capsys, "scheduler", "run", "expire", "--config", str(config))
    assert code == 0 and "expire: 0 grants ended" in out
    code, out, _ = _airlock(capsys, "scheduler", "run", "digest", "--config", str(config))
    assert code == 0 and "digest: 2 digests for" in out


def test_access_review_report_as_csv_and_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report lists live grants and standing groups with last use and uses; --owner keeps
    that owner's connections; JSON carries each line's history (granted, expired...)."""
    _airlock(capsys, "scheduler", "run", "expire", "--config", str(config))
    code, out, err = _airlock(capsys, "access-review", "report", "--format", "csv",
                              "--config", str(config))  # fmt: skip
    assert code == 0 and "2 lines on 2 connections" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["connection"], r["kind"], r["holder"]) for r in rows] == [
        ("pg-a", "grant", "bob@example.com"),
        ("pg-b", "group", "eng"),
    ]
    assert rows[0]["uses"] == "1" and rows[0]["last_used_at"] and rows[0]["unused"] == "False"
    code, out, _ = _airlock(capsys, "access-review", "report", "--owner", "carol@example.com",
                            "--config", str(config))  # fmt: skip
    report = json.loads(out)
    assert [line["holder"] for line in report["lines"]] == ["bob@example.com"]
    code, _, err = _airlock(capsys, "access-review", "report", "--owner", "nobody@example.com",
                            "--config", str(config))  # fmt: skip
    assert code == 2 and "owns no configured connection" in err


def test_scheduler_settings_are_validated(tmp_path: Path) -> None:
    """[scheduler] durations, day and time zone are parsed and checked; escalation reaches the
    domain's connection; the CLI's job names are the scheduler's."""
    path = tmp_path / "airlock.toml"
    path.write_text(CONFIG.format(db=tmp_path / "a.db"), encoding="utf-8")
    settings = load_settings(path)
    assert settings.scheduler.reminder_backoff == [timedelta(minutes=2), timedelta(minutes=10)]
    assert settings.scheduler.interval == timedelta(seconds=30)
    escalation = settings.connections[0].policy().escalation
    assert escalation is not None and escalation.groups == frozenset({"dba-leads"})
    path.write_text(CONFIG.format(db="x").replace("Europe/Berlin", "Mars/Base"), encoding="utf-8")
    with pytest.raises(ConfigError, match="time zone"):
        load_settings(path)
    assert tuple(JOB_NAMES) == JOBS


async def test_access_reviews_api_owners_see_theirs_auditors_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GET /v1/access-reviews: carol sees pg-a's lines only, an auditor every line (or one
    owner's), someone who owns nothing is refused; `airlock up` runs the scheduler."""
    conns = [
        pg_connection("postgres", name="pg-a", access="request",
                      owners={"identities": ["carol@example.com"]}),
        pg_connection("postgres", name="pg-b", owners={"identities": ["dan@example.com"]}),
    ]  # fmt: skip
    async with running_gateway(tmp_path, connections=conns) as gw:
        assert "airlock: scheduler every 1m" in capsys.readouterr().out
        now = gw.runtime.service.clock.now()
        async with gw.runtime.repository.transaction() as tx:
            await tx.add_delegation(
                Delegation("g1", "bob@example.com", "pg-a", None, "carol@example.com", "x",
                           now, now + timedelta(hours=2))
            )  # fmt: skip
        async with gw.client(gw.token("carol@example.com")) as carol:
            mine = (await carol.get("/v1/access-reviews")).json()
            refused = await carol.get("/v1/access-reviews", params={"owner": "dan@example.com"})
        async with gw.client(gw.token("sec@example.com", ["security"])) as auditor:
            every = (await auditor.get("/v1/access-reviews")).json()
            dans = await auditor.get("/v1/access-reviews", params={"owner": "dan@example.com"})
        async with gw.client(gw.token("mallory@example.com")) as mallory:
            nobody = await mallory.get("/v1/access-reviews")
    assert [(line["connection"], line["holder"]) for line in mine["lines"]] == [
        ("pg-a", "bob@example.com")
    ]
    assert mine["lines"][0]["history"] == []
    assert refused.status_code == 403 and nobody.status_code == 403
    assert {line["connection"] for line in every["lines"]} == {"pg-a", "pg-b"}
    assert [line["holder"] for line in dans.json()["lines"]] == ["eng"]
