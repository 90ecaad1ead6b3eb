"""The Dockerfile and compose.yaml run the documented commands, and agree with the Service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.manifests.files import (
    COMPOSE,
    CONFIG_PATH,
    DOCKERFILE,
    MANIFESTS,
    REPO,
    Instruction,
    compose,
    dockerfile_final_stage,
    dockerfile_instructions,
    exec_or_shell,
    one,
    pyproject,
)

AIRLOCK_UP = ["airlock", "up", "--config", CONFIG_PATH]


def _last(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def _command() -> list[str]:
    """What the image runs: ENTRYPOINT followed by CMD (both exec form)."""
    stage = dockerfile_final_stage()
    entrypoint = [i for i in stage if i.keyword == "ENTRYPOINT"]
    head = exec_or_shell(entrypoint[-1].args) if entrypoint else []
    return head + exec_or_shell(_last(stage, "CMD").args)


def _exposed() -> set[int]:
    ports: set[int] = set()
    for ins in dockerfile_final_stage():
        if ins.keyword == "EXPOSE":
            ports |= {int(p.split("/")[0]) for p in ins.args.split()}
    return ports


def _service() -> dict[str, Any]:
    result: dict[str, Any] = compose()["services"]["airlock"]
    return result


def test_dockerfile_bases_on_python_311_slim() -> None:
    """Every stage starts from python:3.11-slim."""
    instructions = dockerfile_instructions()
    default = next(i.args for i in instructions if i.keyword == "ARG" and "PYTHON_IMAGE" in i.args)
    assert default == "PYTHON_IMAGE=python:3.11-slim"
    for ins in instructions:
        if ins.keyword == "FROM":
            assert ins.args.split()[0] == "${PYTHON_IMAGE}"


def test_dockerfile_pip_installs_the_repo() -> None:
    """A RUN does `pip install --no-cache-dir .` after copying pyproject.toml, setup.py (the
    C extension) and every package."""
    instructions = dockerfile_instructions()
    runs = [i for i in instructions if i.keyword == "RUN" and "pip install" in i.args]
    assert len(runs) == 1
    words = exec_or_shell(runs[0].args)
    assert words[words.index("install") + 1 :] == ["--no-cache-dir", "."]
    copied = {
        source.rstrip("/")
        for i in instructions[: instructions.index(runs[0])]
        if i.keyword == "COPY"
        for source in exec_or_shell(i.args)[:-1]
    }
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert {"pyproject.toml", "setup.py", "README.md", *packages} <= copied


def test_dockerfile_build_stage_can_compile_the_extension() -> None:
    """The build stage installs a C compiler before `pip install .` (the fast lane's core is a
    C extension; the slim image has none), and the runtime stage does not."""
    instructions = dockerfile_instructions()
    install = next(i for i in instructions if i.keyword == "RUN" and "pip install" in i.args)
    before = instructions[: instructions.index(install)]
    assert any(i.keyword == "RUN" and "gcc" in i.args.split() for i in before)
    assert not any(i.keyword == "RUN" and "gcc" in i.args for i in dockerfile_final_stage())


def test_dockerfile_command_is_airlock_up() -> None:
    """The image runs `airlock up --config /etc/airlock/airlock.toml` in exec form."""
    stage = dockerfile_final_stage()
    assert _last(stage, "CMD").args.startswith("[")
    assert _command() == AIRLOCK_UP


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    """The final stage switches to a numeric uid other than 0 before the command."""
    user = _last(dockerfile_final_stage(), "USER").args
    uid = user.split(":")[0]
    assert uid.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
    assert int(uid) != 0


def test_dockerfile_declares_the_store_volume() -> None:
    """/var/lib/airlock is a VOLUME, created and owned by the runtime user beforehand."""
    stage = dockerfile_final_stage()
    volume = _last(stage, "VOLUME").args
    assert exec_or_shell(volume) == ["/var/lib/airlock"]
    runs = " ".join(i.args for i in stage if i.keyword == "RUN")
    assert "mkdir -p /var/lib/airlock" in runs
    assert "chown airlock:airlock /var/lib/airlock" in runs


def test_healthcheck_asks_healthz_with_python() -> None:
    """HEALTHCHECK runs python (slim has no curl) against http://127.0.0.1:8080/healthz."""
    check = _last(dockerfile_final_stage(), "HEALTHCHECK").args
    _, _, cmd = check.partition(" CMD ")
    words = json.loads(cmd)
    assert words[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/healthz" in words[2]
    compile(words[2], "<healthcheck>", "exec")


def test_every_exposed_port_is_in_the_service_and_compose() -> None:
    """Each EXPOSEd port is a Service port and a port compose publishes, and nothing else is."""
    exposed = _exposed()
    assert exposed == {8080, 15432, 13306, 12222}
    service = {p["port"] for p in one("Service")["spec"]["ports"]}
    published = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in _service()["ports"]}
    assert exposed == service
    assert exposed == published


def test_compose_builds_the_dockerfile_from_the_repo_root() -> None:
    """compose's build context is the repo root and its dockerfile is manifests/Dockerfile."""
    build = _service()["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == REPO
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_runs_airlock_up() -> None:
    """compose's command, after the image's ENTRYPOINT, is the Dockerfile's `airlock up`."""
    entrypoint = _service().get("entrypoint")
    assert entrypoint is None
    assert ["airlock", *_service()["command"]] == AIRLOCK_UP


def test_compose_mounts_the_store_volume_and_the_config_read_only() -> None:
    """A named volume holds /var/lib/airlock; airlock.toml is bind-mounted read-only."""
    volumes = {v["target"]: v for v in _service()["volumes"]}
    store = volumes["/var/lib/airlock"]
    assert store["type"] == "volume"
    assert store["source"] in compose()["volumes"]
    config = volumes[CONFIG_PATH]
    assert config["type"] == "bind"
    assert config["read_only"] is True
    assert (COMPOSE.parent / config["source"]).resolve() == MANIFESTS / "airlock.toml"


def test_compose_reads_secrets_from_the_repo_env_file() -> None:
    """env_file is the repo root's .env, which git ignores, and compose sets no literal env."""
    env_file = Path(_service()["env_file"])
    assert (COMPOSE.parent / env_file).resolve() == REPO / ".env"
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored
    assert "environment" not in _service()


def test_compose_is_hardened_like_the_deployment() -> None:
    """Read-only root with a /tmp tmpfs and no capabilities, as on Kubernetes."""
    service = _service()
    assert service["read_only"] is True
    assert "/tmp" in service["tmpfs"]
    assert service["cap_drop"] == ["ALL"]
