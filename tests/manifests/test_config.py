"""The shipped airlock.toml: the contract's keys, container binds, and no secret values."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

from tests.manifests.files import (
    MANIFESTS,
    config_map_toml,
    container,
    one,
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


def test_config_map_toml_has_the_contract_keys() -> None:
    """airlock.toml parses and has [store] url, [api] listen, [listeners], full [[connections]]."""
    config = config_map_toml()
    assert config["store"]["url"].startswith("sqlite+aiosqlite:////")
    assert config["api"]["listen"]
    assert set(config["listeners"]) >= {"postgres", "mysql", "ssh"}
    connections = config["connections"]
    assert connections, "no [[connections]] entry"
    for connection in connections:
        assert {"name", "type", "upstream", "password_env"} <= set(connection), connection
    assert any(c["type"] == "postgres" for c in connections)
    names = [c["name"] for c in connections]
    assert len(names) == len(set(names)), "connection names are unique"


def test_config_binds_all_interfaces_on_the_container_ports() -> None:
    """The API and every listener bind 0.0.0.0 on the port the container and Service expose."""
    config = config_map_toml()
    listeners = {k: v for k, v in config["listeners"].items() if k in ("postgres", "mysql", "ssh")}
    binds = {"http": config["api"]["listen"], **listeners}
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    service = {p["name"]: p["port"] for p in one("Service")["spec"]["ports"]}
    for name, listen in binds.items():
        host, _, port = listen.rpartition(":")
        assert host == "0.0.0.0", f"{name} must bind all interfaces in a container"
        assert int(port) == ports[name] == service[name], name


def test_listener_tls_comes_from_the_mounted_secret() -> None:
    """Remote clients need TLS (plaintext is loopback-only): the cert and key the config names
    are mounted read-only from the Secret airlock-tls."""
    config = config_map_toml()["listeners"]
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}
    volumes = {v["name"]: v for v in one("Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "airlock-tls"
    for key in ("tls_cert", "tls_key"):
        assert config[key].startswith(mounts["tls"] + "/"), key
    assert not config.get("allow_plaintext", False)


def test_config_holds_no_secret_values() -> None:
    """No key named like password/token/secret carries a literal; references name a variable."""
    for where, key, value in _walk(config_map_toml()):
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


def test_deployment_sets_no_secret_literal() -> None:
    """No env var of the Deployment with a secret-like name has a literal value."""
    for env in container().get("env", []):
        if SECRET_KEY.search(env["name"]) or env["name"].endswith("_PASSWORD"):
            assert "value" not in env, env["name"]


def test_compose_and_kubernetes_ship_the_same_config() -> None:
    """manifests/airlock.toml (compose) is the exact text the ConfigMap carries."""
    text = (MANIFESTS / "airlock.toml").read_text(encoding="utf-8")
    assert one("ConfigMap")["data"]["airlock.toml"] == text
