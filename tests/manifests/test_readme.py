"""manifests/README.md documents the commands and the Secret the manifests actually use."""

from __future__ import annotations

import re

from tests.manifests.files import MANIFESTS, SECRET_NAME, secret_env

README = MANIFESTS / "README.md"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_shows_the_commands_the_files_run() -> None:
    """The README shows the build, compose, apply and `airlock up` commands of these files."""
    text = _readme()
    for command in (
        "docker build -f manifests/Dockerfile",
        "docker compose -f manifests/compose.yaml up",
        "kubectl apply -k manifests/kubernetes",
        "airlock up --config /etc/airlock/airlock.toml",
    ):
        assert command in text, command


def test_readme_secret_command_holds_every_key() -> None:
    """`kubectl create secret generic airlock-secrets` sets every key the Deployment reads."""
    text = _readme()
    match = re.search(rf"create secret generic {SECRET_NAME} ((?:.*\\\n)*.*)", text)
    assert match, "no kubectl create secret command for the Secret"
    keys = set(re.findall(r"--from-literal=([A-Z0-9_]+)=", match.group(1)))
    assert keys == {ref["key"] for ref in secret_env().values()}


def test_readme_tables_every_secret_variable() -> None:
    """The README's table of secrets names every variable taken from the Secret."""
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", _readme(), re.M))
    assert set(secret_env()) <= rows
