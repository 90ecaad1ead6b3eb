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
    "DOCKERFILE",
    "KUBERNETES",
    "MANIFESTS",
    "REPO",
    "SECRET_NAME",
    "Instruction",
    "compose",
    "config_map_toml",
    "container",
    "deployment",
    "dockerfile_final_stage",
    "dockerfile_instructions",
    "exec_or_shell",
    "kube_documents",
    "kube_files",
    "kustomization",
    "one",
    "pyproject",
    "secret_env",
]

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
KUBERNETES = MANIFESTS / "kubernetes"
DOCKERFILE = MANIFESTS / "Dockerfile"
COMPOSE = MANIFESTS / "compose.yaml"
CONFIG_PATH = "/etc/airlock/airlock.toml"
SECRET_NAME = "airlock-secrets"


def kube_files() -> list[Path]:
    """The Kubernetes resource files (everything in kubernetes/ but the kustomization)."""
    return sorted(
        path
        for path in KUBERNETES.iterdir()
        if path.suffix in {".yaml", ".yml"} and path.name != "kustomization.yaml"
    )


def kube_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of one file."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert all(isinstance(doc, dict) for doc in docs), path
    return docs


def one(kind: str) -> dict[str, Any]:
    """The single resource of this kind among the Kubernetes files."""
    found = [doc for path in kube_files() for doc in kube_documents(path) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kustomization() -> dict[str, Any]:
    data = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def deployment() -> dict[str, Any]:
    return one("Deployment")


def container() -> dict[str, Any]:
    """The Deployment's only container."""
    containers = deployment()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def secret_env() -> dict[str, dict[str, Any]]:
    """The container's env vars that come from a secretKeyRef, by variable name."""
    return {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in container().get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


def config_map_toml() -> dict[str, Any]:
    """The airlock.toml carried by the ConfigMap, parsed."""
    return tomllib.loads(one("ConfigMap")["data"]["airlock.toml"])


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
