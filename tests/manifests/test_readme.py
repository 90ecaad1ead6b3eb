"""manifests/README.md documents the commands and the Secret the manifests actually use."""

from __future__ import annotations

import re
from pathlib import Path

from tests.manifests.files import (
    MANIFESTS,
    REPLICAS,
    SECRET_NAME,
    SINGLE,
    containers,
    secret_env,
    workloads,
)

README = MANIFESTS / "README.md"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _layout_secret_keys(layout: Path) -> set[str]:
    """Every Secret key any container of the layout reads."""
    assert layout in (SINGLE, REPLICAS)
    return {
        ref["key"]
        for w in workloads(layout)
        for ctr in containers(w, init=True)
        for ref in secret_env(ctr).values()
    }


def test_readme_shows_the_commands_the_files_run() -> None:
    """The README shows the build, compose, apply (both layouts) and `airlock up` commands."""
    text = _readme()
    for command in (
        "docker build -f manifests/Dockerfile",
        "docker compose -f manifests/compose.yaml up",
        "kubectl apply -k manifests/kubernetes/single",
        "kubectl apply -k manifests/kubernetes/replicas",
        "airlock up --config /etc/airlock/airlock.toml",
    ):
        assert command in text, command


def test_readme_secret_commands_hold_every_key() -> None:
    """Each layout's keys are exactly those of one `kubectl create secret generic
    airlock-secrets` command in the README."""
    commands = re.findall(rf"create secret generic {SECRET_NAME} ((?:.*\\\n)*.*)", _readme())
    shown = [set(re.findall(r"--from-literal=([A-Z0-9_]+)=", c)) for c in commands]
    assert len(shown) == 2, "one command per layout"
    for layout in (SINGLE, REPLICAS):
        assert _layout_secret_keys(layout) in shown, layout.name


def test_readme_tables_every_secret_variable() -> None:
    """The README's tables of secrets name every variable taken from the Secret."""
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", _readme(), re.M))
    assert _layout_secret_keys(SINGLE) | _layout_secret_keys(REPLICAS) <= rows
