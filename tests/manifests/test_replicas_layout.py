"""kubernetes/replicas: several `airlock gateway` replicas, `airlock bot` and `airlock scheduler`
apart, on a PostgreSQL store whose DSN comes from the Secret; nothing of SQLite."""

from __future__ import annotations

from typing import Any

from gateway.config import parse_duration
from tests.manifests.files import (
    REPLICAS,
    SECRET_NAME,
    config_map_toml,
    containers,
    documents,
    kube_files,
    one,
    pod_spec,
    secret_env,
    workload,
    workloads,
)

STORE_URL = "AIRLOCK_STORE__URL"  # [store] url as an environment override


def _labels(resource: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = resource["spec"]["template"]["metadata"]["labels"]
    return labels


def _args(resource: dict[str, Any]) -> list[str]:
    args: list[str] = containers(resource)[0]["args"]
    return args


def test_gateway_is_several_replicas_rolling() -> None:
    """The gateway runs `airlock gateway` in at least two replicas, updated one pod at a time
    (RollingUpdate, never Recreate), replicas started in parallel."""
    gateway = workload(REPLICAS, "gateway")
    spec = gateway["spec"]
    assert gateway["kind"] == "StatefulSet"
    assert spec["replicas"] >= 2
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["serviceName"] == one("Service", REPLICAS, spec["serviceName"])["metadata"]["name"]
    assert _args(gateway)[0] == "gateway"


def test_each_gateway_replica_keeps_its_journal_on_its_own_volume() -> None:
    """[gateway] journal_dir lies on the StatefulSet's volumeClaimTemplate (ReadWriteOnce, one
    claim per replica, kept when scaled down), never on an emptyDir lost with the pod."""
    gateway = workload(REPLICAS, "gateway")
    journal = config_map_toml(REPLICAS)["gateway"]["journal_dir"]
    ctr = containers(gateway)[0]
    mounts = [
        m for m in ctr["volumeMounts"] if journal.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert len(mounts) == 1, mounts
    claims = {t["metadata"]["name"]: t for t in gateway["spec"]["volumeClaimTemplates"]}
    assert mounts[0]["name"] in claims
    assert claims[mounts[0]["name"]]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert mounts[0]["name"] not in {v["name"] for v in pod_spec(gateway)["volumes"]}
    assert gateway["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"


def test_the_pdb_lets_one_gateway_replica_go_at_a_time() -> None:
    """A PodDisruptionBudget over exactly the gateway pods allows one disruption at a time,
    fewer than the replicas."""
    pdb = one("PodDisruptionBudget", REPLICAS)
    assert pdb["apiVersion"] == "policy/v1"
    selector = pdb["spec"]["selector"]["matchLabels"]
    selected = [w for w in workloads(REPLICAS) if selector.items() <= _labels(w).items()]
    assert [w["metadata"]["name"] for w in selected] == ["airlock-gateway"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert selected[0]["spec"]["replicas"] > pdb["spec"]["maxUnavailable"]


def test_the_listeners_and_the_api_are_services_of_the_gateway_pods() -> None:
    """The TCP Service carries the listener ports the config binds; the HTTP API Service the
    API port; both select the gateway pods."""
    config = config_map_toml(REPLICAS)
    gateway_labels = _labels(workload(REPLICAS, "gateway"))
    listeners = one("Service", REPLICAS, "airlock-listeners")
    api = one("Service", REPLICAS, "airlock")
    for service in (listeners, api):
        assert service["spec"]["selector"].items() <= gateway_labels.items()
        assert service["spec"].get("clusterIP") != "None"
    binds = {k: int(v.rpartition(":")[2]) for k, v in config["listeners"].items() if ":" in v}
    assert {p["name"]: p["port"] for p in listeners["spec"]["ports"]} == binds
    api_port = int(config["api"]["listen"].rpartition(":")[2])
    assert [(p["name"], p["port"]) for p in api["spec"]["ports"]] == [("http", api_port)]


def test_the_bot_is_one_replica_recording_through_the_api_service() -> None:
    """`airlock bot`: one replica, Recreate (one delivery loop), AIRLOCK_URL is the HTTP API
    Service's address."""
    bot = workload(REPLICAS, "bot")
    assert bot["kind"] == "Deployment"
    assert bot["spec"]["replicas"] == 1
    assert bot["spec"]["strategy"] == {"type": "Recreate"}
    assert _args(bot)[0] == "bot"
    env = {e["name"]: e for e in containers(bot)[0]["env"]}
    api = one("Service", REPLICAS, "airlock")
    assert env["AIRLOCK_URL"]["value"] == f"http://airlock:{api['spec']['ports'][0]['port']}"


def test_the_scheduler_runs_apart_in_its_own_deployment() -> None:
    """`airlock scheduler` in a Deployment of its own (each tick runs once however many)."""
    scheduler = workload(REPLICAS, "scheduler")
    assert scheduler["kind"] == "Deployment"
    assert scheduler["spec"]["replicas"] >= 1
    assert scheduler["spec"]["strategy"]["type"] == "RollingUpdate"
    assert _args(scheduler)[0] == "scheduler"


def test_every_pod_migrates_the_store_first() -> None:
    """Each workload's first init container runs `airlock db upgrade` (safe concurrently: the
    migration takes a PostgreSQL advisory lock)."""
    for w in workloads(REPLICAS):
        init = pod_spec(w)["initContainers"][0]
        assert init["args"][:2] == ["db", "upgrade"], w["metadata"]["name"]


def test_the_store_dsn_comes_from_the_secret_everywhere() -> None:
    """Every container, init containers too, takes AIRLOCK_STORE__URL from airlock-secrets
    (required: without it the pod does not start, rather than falling back to a default)."""
    for w in workloads(REPLICAS):
        for ctr in containers(w, init=True):
            ref = secret_env(ctr).get(STORE_URL)
            assert ref is not None, (w["metadata"]["name"], ctr["name"])
            assert ref["name"] == SECRET_NAME and not ref.get("optional", False)
    assert "url" not in config_map_toml(REPLICAS).get("store", {}), "the DSN is a secret"


def test_nothing_in_the_replicas_layout_uses_sqlite() -> None:
    """No sqlite URL in any file, no literal store URL in any env, and no volume for a
    store: SQLite is one process's store, never several replicas'."""
    for path in kube_files(REPLICAS):
        assert "sqlite+" not in path.read_text(encoding="utf-8"), path.name
    for w in workloads(REPLICAS):
        for ctr in containers(w, init=True):
            for env in ctr.get("env", []):
                assert not (env["name"] == STORE_URL and "value" in env)
    assert "PersistentVolumeClaim" not in {d["kind"] for d in documents(REPLICAS)}


def test_each_process_gets_only_the_secrets_it_uses() -> None:
    """Connection passwords go to the gateway only, Slack's tokens to the bot only; the DSN
    and the signing key (one for all: the gateways accept the bot's tokens) to each."""
    passwords = {c["password_env"] for c in config_map_toml(REPLICAS)["connections"]}
    shared = {STORE_URL, "AIRLOCK_SIGNING_KEY"}
    slack = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    expected = {"gateway": shared | passwords, "bot": shared | slack, "scheduler": shared}
    for component, names in expected.items():
        assert set(secret_env(containers(workload(REPLICAS, component))[0])) == names, component
    bot = secret_env(containers(workload(REPLICAS, "bot"))[0])
    assert {n for n, ref in bot.items() if ref.get("optional", False)} == {"SLACK_APP_TOKEN"}


def test_gateway_drains_before_it_stops() -> None:
    """A preStop wait lets the Services drop the pod before airlock stops listening; grace
    covers it plus the shutdown deadline, and the readiness probe reacts within ~10 s."""
    gateway = workload(REPLICAS, "gateway")
    ctr = containers(gateway)[0]
    wait = float(ctr["lifecycle"]["preStop"]["exec"]["command"][1])
    deadline = parse_duration(config_map_toml(REPLICAS)["gateway"]["shutdown_timeout"])
    assert 0 < wait <= 10
    assert pod_spec(gateway)["terminationGracePeriodSeconds"] >= wait + deadline.total_seconds() + 5
    ready = ctr["readinessProbe"]
    assert ready["periodSeconds"] * ready["failureThreshold"] <= 10


def test_heartbeat_settings_say_when_a_replica_is_dead() -> None:
    """The config sets the replica heartbeat and a dead-after of several heartbeats."""
    gateway = config_map_toml(REPLICAS)["gateway"]
    beat = parse_duration(gateway["heartbeat_interval"])
    dead = parse_duration(gateway["replica_dead_after"])
    assert dead >= 3 * beat
