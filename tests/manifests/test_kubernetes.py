"""The Kubernetes manifests: schema-valid, complete, and wired to each other consistently."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.manifests.files import (
    CONFIG_PATH,
    DOCKERFILE,
    KUBERNETES,
    SECRET_NAME,
    config_map_toml,
    container,
    deployment,
    dockerfile_final_stage,
    exec_or_shell,
    kube_documents,
    kube_files,
    kustomization,
    one,
    secret_env,
)

# The oldest Kubernetes minor we claim to support, and the newest schema the validator ships.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def _pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = deployment()["spec"]["template"]["spec"]
    return spec


def _container_port(port: int | str) -> int:
    """A probe's or Service's target port as a number, resolving a named container port."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert port in by_name, f"no container port named {port!r}"
    result: int = by_name[port]
    return result


def _volume_for_mount(mount_path: str) -> dict[str, Any]:
    mounts = [m for m in container()["volumeMounts"] if m["mountPath"] == mount_path]
    assert len(mounts) == 1, f"expected one mount at {mount_path}"
    volumes = {v["name"]: v for v in _pod_spec()["volumes"]}
    result: dict[str, Any] = volumes[mounts[0]["name"]]
    return result


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", kube_files(), ids=lambda p: p.name)
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


def test_kustomization_lists_exactly_the_files_present() -> None:
    """kustomization.yaml's resources are exactly the resource files in kubernetes/."""
    listed = kustomization()["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    assert set(listed) == {p.name for p in kube_files()}
    assert {p.name for p in KUBERNETES.iterdir()} == {*listed, "kustomization.yaml"}


def test_manifests_are_namespace_agnostic() -> None:
    """No resource and not the kustomization pins a namespace; the operator chooses it."""
    assert "namespace" not in kustomization()
    for path in kube_files():
        for doc in kube_documents(path):
            assert "namespace" not in doc["metadata"], path.name


def test_one_replica_with_recreate() -> None:
    """SQLite allows one writer: one replica, and the old pod stops before the new one starts."""
    spec = deployment()["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_service_selects_the_deployment_pods() -> None:
    """The Service's selector matches the Deployment's pod labels."""
    selector = one("Service")["spec"]["selector"]
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert selector and selector.items() <= labels.items()
    assert deployment()["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_service_exposes_every_container_port() -> None:
    """ClusterIP Service ports http/postgres/mysql/ssh reach the same-named container ports."""
    service = one("Service")["spec"]
    assert service.get("type", "ClusterIP") == "ClusterIP"
    ports = {p["name"]: p for p in service["ports"]}
    assert set(ports) == {"http", "postgres", "mysql", "ssh"}
    assert {name: _container_port(p["targetPort"]) for name, p in ports.items()} == {
        "http": 8080,
        "postgres": 15432,
        "mysql": 13306,
        "ssh": 12222,
    }
    assert {p["name"] for p in container()["ports"]} == set(ports)


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_probes_hit_healthz_on_the_service_http_port(probe: str) -> None:
    """Each probe GETs /healthz on the container port the Service exposes as http."""
    http = next(p for p in one("Service")["spec"]["ports"] if p["name"] == "http")
    get = container()[probe]["httpGet"]
    assert get["path"] == "/healthz"
    assert get.get("scheme", "HTTP") == "HTTP"
    assert _container_port(get["port"]) == _container_port(http["targetPort"])


def test_store_volume_is_the_pvc() -> None:
    """/var/lib/airlock is mounted from the PersistentVolumeClaim, and the store lives there."""
    volume = _volume_for_mount("/var/lib/airlock")
    pvc = one("PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert "ReadWriteOnce" in pvc["spec"]["accessModes"]
    url = config_map_toml()["store"]["url"]
    assert url.startswith("sqlite+aiosqlite:////var/lib/airlock/"), url


def test_config_map_is_mounted_where_the_command_reads_it() -> None:
    """The container's --config path is the ConfigMap's airlock.toml, mounted read-only."""
    args = container()["args"]
    config = args[args.index("--config") + 1]
    assert config == CONFIG_PATH
    directory, _, filename = config.rpartition("/")
    volume = _volume_for_mount(directory)
    assert volume["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    assert {"key": "airlock.toml", "path": filename} in volume["configMap"]["items"]
    mount = next(m for m in container()["volumeMounts"] if m["mountPath"] == directory)
    assert mount["readOnly"] is True


def test_container_runs_the_image_command() -> None:
    """The Deployment's args are the Dockerfile's CMD and it keeps the image's ENTRYPOINT."""
    stage = dockerfile_final_stage()
    cmd = next(i for i in reversed(stage) if i.keyword == "CMD")
    assert "command" not in container()
    assert container()["args"] == exec_or_shell(cmd.args)
    assert container()["args"] == ["up", "--config", CONFIG_PATH]


def test_every_secret_ref_is_airlock_secrets() -> None:
    """Every env var or envFrom taken from a Secret refers to the Secret airlock-secrets."""
    refs = secret_env().values()
    assert refs, "no env var comes from a Secret"
    assert {ref["name"] for ref in refs} == {SECRET_NAME}
    for source in container().get("envFrom", []):
        if "secretRef" in source:
            assert source["secretRef"]["name"] == SECRET_NAME


def _secret_names() -> set[str]:
    names = {"AIRLOCK_SIGNING_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    return names | {c["password_env"] for c in config_map_toml()["connections"]}


def test_every_secret_variable_comes_from_the_secret() -> None:
    """The signing key, Slack tokens and each connection's password_env are secretKeyRefs."""
    refs = secret_env()
    assert set(refs) == _secret_names()
    for name, ref in refs.items():
        assert ref["key"] == name, "the Secret's key is the variable's name"
    required = {name for name, ref in refs.items() if not ref.get("optional", False)}
    assert required == _secret_names() - {"SLACK_APP_TOKEN"}


def test_no_secret_kind_is_shipped() -> None:
    """The operator creates airlock-secrets; no Secret with values is part of the manifests."""
    kinds = {doc["kind"] for path in kube_files() for doc in kube_documents(path)}
    assert "Secret" not in kinds


def test_pod_is_non_root_with_a_read_only_root() -> None:
    """runAsNonRoot as the image's uid, read-only root, no privilege escalation, /tmp emptyDir."""
    pod = _pod_spec()["securityContext"]
    ctr = container()["securityContext"]
    assert pod["runAsNonRoot"] is True
    user = next(i for i in reversed(dockerfile_final_stage()) if i.keyword == "USER")
    assert str(pod["runAsUser"]) == user.args.split(":")[0], f"{DOCKERFILE.name} USER"
    assert pod["fsGroup"] == pod["runAsGroup"], "the PVC is writable by the process's group"
    assert ctr["readOnlyRootFilesystem"] is True
    assert ctr["allowPrivilegeEscalation"] is False
    assert ctr["capabilities"]["drop"] == ["ALL"]
    assert "emptyDir" in _volume_for_mount("/tmp")


def test_resources_are_requested_and_limited() -> None:
    """The container requests and limits cpu and memory."""
    resources = container()["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_service_links_are_disabled() -> None:
    """Kubernetes injects no AIRLOCK_* service variables, which would read as config overrides."""
    assert _pod_spec()["enableServiceLinks"] is False
