"""The shipped airlock.toml: the contract's keys, container binds, and no secret values."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_settings
from tests.manifests.files import (
    CONFIG_PATH,
    LAYOUTS,
    MANIFESTS,
    REPLICAS,
    SINGLE,
    config_map_toml,
    containers,
    documents,
    one,
    pod_spec,
    secret_env,
    workload,
    workloads,
)

# A key whose name says it holds a secret; `password_env` / `*_file` only name where it lives.
SECRET_KEY = re.compile(r"pass(word|wd)?|token|secret|private_key|signing_key|api_key", re.I)
REFERENCE_SUFFIXES = ("_env", "_file")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (dotted path, key, value) pair in a parsed TOML document, depth first."""
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else key
            yield where, key, child
            yield from _walk(child, where)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, f"{path}[{index}]")


@pytest.fixture(params=LAYOUTS, ids=lambda p: p.name)
def layout(request: pytest.FixtureRequest) -> Path:
    result: Path = request.param
    return result


def test_config_map_toml_has_the_contract_keys(layout: Path) -> None:
    """airlock.toml parses and has [api] listen, [listeners], full [[connections]]; the
    one-process store is a SQLite file, the replicas' comes from the environment."""
    config = config_map_toml(layout)
    if layout == SINGLE:
        assert config["store"]["url"].startswith("sqlite+aiosqlite:////")
    else:
        assert "url" not in config.get("store", {})
    assert config["api"]["listen"]
    assert set(config["listeners"]) >= {"postgres", "mysql", "ssh"}
    connections = config["connections"]
    assert connections, "no [[connections]] entry"
    for connection in connections:
        assert {"name", "type", "upstream", "password_env"} <= set(connection), connection
    assert any(c["type"] == "postgres" for c in connections)
    names = [c["name"] for c in connections]
    assert len(names) == len(set(names)), "connection names are unique"


def test_config_binds_all_interfaces_on_the_container_ports(layout: Path) -> None:
    """The API and every listener bind 0.0.0.0 on the port the gateway's container and a
    Service expose."""
    config = config_map_toml(layout)
    listeners = {k: v for k, v in config["listeners"].items() if k in ("postgres", "mysql", "ssh")}
    binds = {"http": config["api"]["listen"], **listeners}
    ports = {
        p["name"]: p["containerPort"] for p in containers(workload(layout, "gateway"))[0]["ports"]
    }
    service = {
        p["name"]: p["port"]
        for doc in documents(layout)
        if doc["kind"] == "Service"
        for p in doc["spec"]["ports"]
    }
    for name, listen in binds.items():
        host, _, port = listen.rpartition(":")
        assert host == "0.0.0.0", f"{name} must bind all interfaces in a container"
        assert int(port) == ports[name] == service[name], name


def test_listener_tls_comes_from_the_mounted_secret(layout: Path) -> None:
    """Remote clients need TLS (plaintext is loopback-only): the cert and key the config names
    are mounted read-only into the gateway from the Secret airlock-tls."""
    config = config_map_toml(layout)["listeners"]
    gateway = workload(layout, "gateway")
    mounts = {m["name"]: m["mountPath"] for m in containers(gateway)[0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(gateway)["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "airlock-tls"
    for key in ("tls_cert", "tls_key"):
        assert config[key].startswith(mounts["tls"] + "/"), key
    assert not config.get("allow_plaintext", False)


def test_config_holds_no_secret_values(layout: Path) -> None:
    """No key named like password/token/secret carries a literal; references name a variable."""
    for where, key, value in _walk(config_map_toml(layout)):
        if not SECRET_KEY.search(key):
            continue
        assert key.endswith(REFERENCE_SUFFIXES), f"{where} would hold a secret in the TOML"
        if key.endswith("_env"):
            assert isinstance(value, str) and ENV_NAME.match(value), f"{where} = {value!r}"


def test_secret_check_catches_a_literal() -> None:
    """The secret scan flags a literal password, so the check above is not vacuous."""
    leaked = tomllib.loads('[[connections]]\nname = "x"\npassword = "hunter2"\n')
    flagged = [
        where
        for where, key, _ in _walk(leaked)
        if SECRET_KEY.search(key) and not key.endswith(REFERENCE_SUFFIXES)
    ]
    assert flagged == ["connections[0].password"]


def test_workloads_set_no_secret_literal(layout: Path) -> None:
    """No env var with a secret-like name (or the store's URL) has a literal value."""
    for w in workloads(layout):
        for ctr in containers(w, init=True):
            for env in ctr.get("env", []):
                secretish = SECRET_KEY.search(env["name"]) or env["name"].endswith("_PASSWORD")
                if secretish or env["name"] == "AIRLOCK_STORE__URL":
                    assert "value" not in env, env["name"]


def test_config_loads_with_the_gateways_own_settings(
    layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap's airlock.toml passes `airlock`'s own settings loader (every key known,
    every value valid), with the environment the gateway's container gets from the Secret."""
    for name in list(os.environ):
        if name.startswith("AIRLOCK_"):
            monkeypatch.delenv(name)
    env = secret_env(containers(workload(layout, "gateway"))[0])
    if "AIRLOCK_STORE__URL" in env:
        monkeypatch.setenv("AIRLOCK_STORE__URL", "postgresql+asyncpg://airlock@db.invalid/airlock")
    path = tmp_path / "airlock.toml"
    path.write_text(one("ConfigMap", layout)["data"]["airlock.toml"], encoding="utf-8")
    settings = load_settings(path)
    assert settings.store.url.startswith("sqlite" if layout == SINGLE else "postgresql+asyncpg")
    assert str(settings.gateway.journal_dir).startswith("/var/lib/airlock/")
    assert CONFIG_PATH.endswith(path.name)


def test_compose_and_kubernetes_ship_the_same_config() -> None:
    """manifests/airlock.toml (compose) is the exact text the one-process ConfigMap carries."""
    text = (MANIFESTS / "airlock.toml").read_text(encoding="utf-8")
    assert one("ConfigMap", SINGLE)["data"]["airlock.toml"] == text
    assert one("ConfigMap", REPLICAS)["data"]["airlock.toml"] != text
