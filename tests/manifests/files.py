"""Readers for the files under manifests/: Kubernetes YAML, compose, TOML and the Dockerfile."""

from __future__ import annotations

import json
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "COMPOSE",
    "CONFIG_PATH",
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "DOCKERFILE",
    "KUBERNETES",
    "LAYOUTS",
    "MANIFESTS",
    "REPLICAS",
    "REPO",
    "SECRET_NAME",
    "SINGLE",
    "Instruction",
    "compose",
    "config_map_toml",
    "container",
    "containers",
    "deployment",
    "dockerfile_final_stage",
    "dockerfile_instructions",
    "documents",
    "exec_or_shell",
    "kube_documents",
    "kube_files",
    "kustomization",
    "one",
    "pod_spec",
    "pyproject",
    "secret_env",
    "workload",
    "workloads",
]

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
KUBERNETES = MANIFESTS / "kubernetes"
SINGLE = KUBERNETES / "single"  # `airlock up` on SQLite: exactly one replica
REPLICAS = KUBERNETES / "replicas"  # gateway replicas, bot and scheduler apart, on PostgreSQL
LAYOUTS = (SINGLE, REPLICAS)
DOCKERFILE = MANIFESTS / "Dockerfile"
COMPOSE = MANIFESTS / "compose.yaml"
CONFIG_PATH = "/etc/airlock/airlock.toml"
SECRET_NAME = "airlock-secrets"
DEFAULT_SHUTDOWN_TIMEOUT = "20s"  # [gateway] shutdown_timeout when the file does not set it
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def kube_files(layout: Path = SINGLE) -> list[Path]:
    """The Kubernetes resource files of a layout (everything in it but the kustomization)."""
    return sorted(
        path
        for path in layout.iterdir()
        if path.suffix in {".yaml", ".yml"} and path.name != "kustomization.yaml"
    )


def kube_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of one file."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert all(isinstance(doc, dict) for doc in docs), path
    return docs


def documents(layout: Path = SINGLE) -> list[dict[str, Any]]:
    """Every resource of a layout."""
    return [doc for path in kube_files(layout) for doc in kube_documents(path)]


def one(kind: str, layout: Path = SINGLE, name: str | None = None) -> dict[str, Any]:
    """The single resource of this kind (and name) in a layout."""
    found = [
        doc
        for doc in documents(layout)
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''} in {layout.name}, found {len(found)}"
    return found[0]


def kustomization(layout: Path = SINGLE) -> dict[str, Any]:
    data = yaml.safe_load((layout / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def workloads(layout: Path = SINGLE) -> list[dict[str, Any]]:
    """The layout's Deployments and StatefulSets."""
    return [doc for doc in documents(layout) if doc["kind"] in WORKLOAD_KINDS]


def workload(layout: Path, component: str) -> dict[str, Any]:
    """The one workload whose pods carry ``app.kubernetes.io/component: component``."""
    found = [
        w
        for w in workloads(layout)
        if w["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == component
    ]
    assert len(found) == 1, f"expected one {component} workload in {layout.name}"
    return found[0]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def containers(resource: dict[str, Any], *, init: bool = False) -> list[dict[str, Any]]:
    """A workload's containers, and its init containers first when ``init``."""
    spec = pod_spec(resource)
    found: list[dict[str, Any]] = list(spec.get("initContainers", [])) if init else []
    return found + list(spec["containers"])


def deployment() -> dict[str, Any]:
    """The one-process layout's Deployment."""
    return one("Deployment")


def container() -> dict[str, Any]:
    """The one-process Deployment's only container."""
    found = containers(deployment())
    assert len(found) == 1
    return found[0]


def secret_env(ctr: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """A container's env vars that come from a secretKeyRef, by variable name (default: the
    one-process Deployment's container)."""
    return {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in (container() if ctr is None else ctr).get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


def config_map_toml(layout: Path = SINGLE) -> dict[str, Any]:
    """The airlock.toml carried by a layout's ConfigMap, parsed."""
    return tomllib.loads(one("ConfigMap", layout)["data"]["airlock.toml"])


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword (upper case) and the rest of its line."""

    keyword: str
    args: str


def dockerfile_instructions() -> list[Instruction]:
    """The Dockerfile's instructions, comments dropped and continuation lines joined."""
    result: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued instruction"
    return result


def dockerfile_final_stage() -> list[Instruction]:
    """The instructions of the last build stage (the image that runs)."""
    instructions = dockerfile_instructions()
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    assert starts, "Dockerfile has no FROM"
    return instructions[starts[-1] :]


def exec_or_shell(args: str) -> list[str]:
    """The argument list of a CMD/ENTRYPOINT/RUN in exec (JSON) or shell form."""
    if args.startswith("["):
        parsed = json.loads(args)
        assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
        return list(parsed)
    return shlex.split(args)
