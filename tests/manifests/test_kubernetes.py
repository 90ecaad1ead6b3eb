"""The Kubernetes manifests, both layouts (kubernetes/single: `airlock up` on SQLite;
kubernetes/replicas: gateway replicas, bot and scheduler on PostgreSQL): schema-valid, complete,
wired to each other consistently, and hardened alike."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gateway.cli.main import _parser
from gateway.config import parse_duration
from tests.manifests.files import (
    CONFIG_PATH,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DOCKERFILE,
    KUBERNETES,
    LAYOUTS,
    SECRET_NAME,
    SINGLE,
    config_map_toml,
    container,
    containers,
    deployment,
    dockerfile_final_stage,
    documents,
    exec_or_shell,
    kube_documents,
    kube_files,
    kustomization,
    one,
    pod_spec,
    secret_env,
    workloads,
)

# The oldest Kubernetes minor we claim to support, and the newest schema the validator ships.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
ALL_FILES = [path for layout in LAYOUTS for path in kube_files(layout)]


@pytest.fixture(params=LAYOUTS, ids=lambda p: p.name)
def layout(request: pytest.FixtureRequest) -> Path:
    result: Path = request.param
    return result


def _named_ports(resource: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in containers(resource) for p in c.get("ports", [])}


def _volume_for_mount(resource: dict[str, Any], ctr: dict[str, Any], path: str) -> dict[str, Any]:
    """The pod volume (or volumeClaimTemplate) mounted at ``path`` in ``ctr``."""
    mounts = [m for m in ctr.get("volumeMounts", []) if m["mountPath"] == path]
    assert len(mounts) == 1, f"expected one mount at {path} in {ctr['name']}"
    volumes = {v["name"]: v for v in pod_spec(resource).get("volumes", [])}
    claims = {t["metadata"]["name"]: t for t in resource["spec"].get("volumeClaimTemplates", [])}
    name = mounts[0]["name"]
    assert name in volumes or name in claims, f"no volume {name}"
    return volumes.get(name) or {"volumeClaimTemplate": claims[name]}


def _pre_stop_seconds(ctr: dict[str, Any]) -> float:
    """How long the container's preStop hook waits (a ``sleep N`` exec), 0 without one."""
    hook = ctr.get("lifecycle", {}).get("preStop")
    if hook is None:
        return 0.0
    command = hook["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, command
    return float(command[1])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_kubernetes_yaml_validates(path: Path, version: str) -> None:
    """Each resource file parses and passes the strict Kubernetes schema."""
    docs = kube_documents(path)
    assert docs, f"{path.name} holds no resource"
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_validation_is_strict() -> None:
    """The schema check rejects an unknown field, so the validation above is not vacuous."""
    broken = copy.deepcopy(deployment())
    broken["spec"]["template"]["spec"]["containers"][0]["envv"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_kubernetes_holds_the_two_layouts() -> None:
    """kubernetes/ holds exactly the two layouts, each a kustomization of its own."""
    assert {p.name for p in KUBERNETES.iterdir()} == {p.name for p in LAYOUTS}


def test_kustomization_lists_exactly_the_files_present(layout: Path) -> None:
    """A layout's kustomization.yaml lists exactly the resource files beside it."""
    listed = kustomization(layout)["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == {p.name for p in kube_files(layout)}
    assert {p.name for p in layout.iterdir()} == {*listed, "kustomization.yaml"}


def test_manifests_are_namespace_agnostic(layout: Path) -> None:
    """No resource and not the kustomization pins a namespace; the operator chooses it."""
    assert "namespace" not in kustomization(layout)
    for doc in documents(layout):
        assert "namespace" not in doc["metadata"], doc["metadata"]["name"]


def test_every_service_selects_one_workload_and_its_ports(layout: Path) -> None:
    """Each Service selects the pods of exactly one workload, and each port targets a named
    container port of it."""
    for service in [d for d in documents(layout) if d["kind"] == "Service"]:
        selector = service["spec"]["selector"]
        matched = [
            w
            for w in workloads(layout)
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, service["metadata"]["name"]
        ports = _named_ports(matched[0])
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (service["metadata"]["name"], port)
            assert ports[port["targetPort"]] == port["port"], port


def test_workload_selectors_match_their_pods(layout: Path) -> None:
    """Each workload's selector matches its own pod labels and no other workload's pods."""
    found = workloads(layout)
    for w in found:
        selector = w["spec"]["selector"]["matchLabels"]
        for other in found:
            labels = other["spec"]["template"]["metadata"]["labels"]
            assert (selector.items() <= labels.items()) == (other is w), w["metadata"]["name"]


def test_probes_liveness_healthz_readiness_readyz(layout: Path) -> None:
    """Every container serving HTTP: startup and liveness GET /healthz (200 while the process
    serves, degraded or not), readiness GET /readyz (503 while the store cannot write), all on
    its http port. A container without an HTTP port has no probe."""
    for w in workloads(layout):
        for ctr in containers(w):
            names = {p["name"] for p in ctr.get("ports", [])}
            if "http" not in names:
                assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(ctr)
                continue
            expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz"}
            expected["readinessProbe"] = "/readyz"
            for probe, path in expected.items():
                get = ctr[probe]["httpGet"]
                assert (get["path"], get["port"]) == (path, "http"), (ctr["name"], probe)
                assert get.get("scheme", "HTTP") == "HTTP"


def test_grace_period_is_above_the_shutdown_deadline(layout: Path) -> None:
    """terminationGracePeriodSeconds exceeds the preStop wait plus [gateway] shutdown_timeout
    (airlock's own deadline ends first, so Kubernetes never SIGKILLs a clean shutdown)."""
    gateway = config_map_toml(layout).get("gateway", {})
    deadline = parse_duration(gateway.get("shutdown_timeout", DEFAULT_SHUTDOWN_TIMEOUT))
    for w in workloads(layout):
        grace = pod_spec(w)["terminationGracePeriodSeconds"]
        for ctr in containers(w):
            assert grace > _pre_stop_seconds(ctr) + deadline.total_seconds(), w["metadata"]["name"]


def test_every_container_runs_an_airlock_command(layout: Path) -> None:
    """Every container (init containers too) keeps the image's ENTRYPOINT (airlock) and its
    args are a command `airlock` has, with the mounted configuration."""
    parser = _parser()
    for w in workloads(layout):
        for ctr in containers(w, init=True):
            assert "command" not in ctr, ctr["name"]
            args = ctr["args"]
            parsed = parser.parse_args(args)
            assert parsed.config == CONFIG_PATH, ctr["name"]


def test_config_map_is_mounted_where_every_command_reads_it(layout: Path) -> None:
    """Each container's --config path is the ConfigMap's airlock.toml, mounted read-only."""
    directory, _, filename = CONFIG_PATH.rpartition("/")
    name = one("ConfigMap", layout)["metadata"]["name"]
    for w in workloads(layout):
        for ctr in containers(w, init=True):
            volume = _volume_for_mount(w, ctr, directory)
            assert volume["configMap"]["name"] == name
            assert {"key": "airlock.toml", "path": filename} in volume["configMap"]["items"]
            mount = next(m for m in ctr["volumeMounts"] if m["mountPath"] == directory)
            assert mount["readOnly"] is True


def test_every_secret_ref_is_airlock_secrets(layout: Path) -> None:
    """Every env var or envFrom taken from a Secret refers to the Secret airlock-secrets, and
    the Secret's key is the variable's name."""
    for w in workloads(layout):
        for ctr in containers(w, init=True):
            for env in ctr.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert (ref["name"], ref["key"]) == (SECRET_NAME, env["name"])
            for source in ctr.get("envFrom", []):
                assert "secretRef" not in source, "name each secret variable"


def test_no_secret_kind_is_shipped(layout: Path) -> None:
    """The operator creates airlock-secrets; no Secret with values is part of the manifests."""
    assert "Secret" not in {doc["kind"] for doc in documents(layout)}


def test_pods_are_non_root_with_a_read_only_root(layout: Path) -> None:
    """runAsNonRoot as the image's uid, read-only root, no privilege escalation, no
    capabilities, a /tmp emptyDir: every pod and every container, init containers too."""
    user = next(i for i in reversed(dockerfile_final_stage()) if i.keyword == "USER")
    for w in workloads(layout):
        pod = pod_spec(w)["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert str(pod["runAsUser"]) == user.args.split(":")[0], f"{DOCKERFILE.name} USER"
        assert pod["fsGroup"] == pod["runAsGroup"], "volumes are writable by the process's group"
        for ctr in containers(w, init=True):
            sec = ctr["securityContext"]
            assert sec["readOnlyRootFilesystem"] is True, ctr["name"]
            assert sec["allowPrivilegeEscalation"] is False
            assert sec["capabilities"]["drop"] == ["ALL"]
            assert "emptyDir" in _volume_for_mount(w, ctr, "/tmp")


def test_resources_are_requested_and_limited(layout: Path) -> None:
    """Every container requests and limits cpu and memory."""
    for w in workloads(layout):
        for ctr in containers(w, init=True):
            resources = ctr["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, ctr["name"]
            assert set(resources["limits"]) == {"cpu", "memory"}, ctr["name"]


def test_service_links_and_account_tokens_are_off(layout: Path) -> None:
    """Kubernetes injects no AIRLOCK_* service variables (they would read as config overrides)
    and mounts no service-account token (Airlock does not call the cluster's API)."""
    for w in workloads(layout):
        assert pod_spec(w)["enableServiceLinks"] is False
        assert pod_spec(w)["automountServiceAccountToken"] is False


# -- the one-process layout -------------------------------------------------------------------


def test_single_is_one_replica_with_recreate() -> None:
    """SQLite allows one writer: one replica, and the old pod stops before the new one starts."""
    assert [w["metadata"]["name"] for w in workloads(SINGLE)] == ["airlock"]
    spec = deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_single_service_exposes_every_container_port() -> None:
    """ClusterIP Service ports http/postgres/mysql/ssh reach the same-named container ports."""
    service = one("Service")["spec"]
    assert service.get("type", "ClusterIP") == "ClusterIP"
    ports = {p["name"]: p["targetPort"] for p in service["ports"]}
    assert set(ports) == {"http", "postgres", "mysql", "ssh"}
    assert {name: _named_ports(deployment())[target] for name, target in ports.items()} == {
        "http": 8080,
        "postgres": 15432,
        "mysql": 13306,
        "ssh": 12222,
    }


def test_single_store_volume_is_the_pvc() -> None:
    """/var/lib/airlock is mounted from the PersistentVolumeClaim, and the store lives there."""
    volume = _volume_for_mount(deployment(), container(), "/var/lib/airlock")
    pvc = one("PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert "ReadWriteOnce" in pvc["spec"]["accessModes"]
    url = config_map_toml()["store"]["url"]
    assert url.startswith("sqlite+aiosqlite:////var/lib/airlock/"), url


def test_single_container_runs_the_image_command() -> None:
    """The Deployment's args are the Dockerfile's CMD (`up`)."""
    stage = dockerfile_final_stage()
    cmd = next(i for i in reversed(stage) if i.keyword == "CMD")
    assert container()["args"] == exec_or_shell(cmd.args)
    assert container()["args"] == ["up", "--config", CONFIG_PATH]


def _single_secret_names() -> set[str]:
    names = {"AIRLOCK_SIGNING_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    return names | {c["password_env"] for c in config_map_toml()["connections"]}


def test_single_takes_every_secret_variable_from_the_secret() -> None:
    """The signing key, Slack tokens and each connection's password_env are secretKeyRefs;
    only SLACK_APP_TOKEN (Socket Mode) is optional."""
    refs = secret_env()
    assert set(refs) == _single_secret_names()
    required = {name for name, ref in refs.items() if not ref.get("optional", False)}
    assert required == _single_secret_names() - {"SLACK_APP_TOKEN"}
