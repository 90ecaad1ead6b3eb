"""The ``AIRLOCK_*`` environment read as pydantic-settings reads it (gateway.overrides): its
EnvSettingsSource, configured as Settings was, is the oracle for any set of variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from gateway.config import Settings, load_settings
from gateway.errors import ConfigError
from gateway.overrides import environment_overrides, merge

Oracle: type[BaseSettings] = create_model(  # type: ignore[call-overload]
    "Oracle",
    __base__=BaseSettings,
    __config__=None,
    **{name: (field.annotation, field) for name, field in Settings.model_fields.items()},
)
Oracle.model_config = SettingsConfigDict(
    env_prefix="AIRLOCK_", env_nested_delimiter="__", extra="forbid", frozen=True
)


def _paths(model: type[BaseModel], prefix: str = "", depth: int = 0) -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        found.append(prefix + name)
        kind = field.annotation
        if depth < 2 and isinstance(kind, type) and issubclass(kind, BaseModel):
            found += _paths(kind, f"{prefix}{name}__", depth + 1)
    return found


NAMES = [*_paths(Settings), "url", "token", "store__nope", "api__listen__x", "connections__0"]
VALUES = st.one_of(
    st.sampled_from(["", "x", "127.0.0.1:1", "[]", '["a", "b"]', "{}", '{"url": "u"}', "[1", "5m"]),
    st.text(alphabet='ab{}[]":, 0', max_size=8),
)


def _spelled(name: str, upper: bool) -> str:
    return f"AIRLOCK_{name}".upper() if upper else f"airlock_{name}"


ENVIRONMENTS = st.dictionaries(
    st.builds(_spelled, st.sampled_from(NAMES), st.booleans()), VALUES, max_size=5
)


def _oracle(env: dict[str, str]) -> dict[str, Any] | type[Exception]:
    with mock.patch.dict(os.environ, env, clear=True):
        try:
            return EnvSettingsSource(Oracle)()
        except SettingsError:
            return ConfigError


def _ours(env: dict[str, str]) -> dict[str, Any] | type[Exception]:
    try:
        return environment_overrides(Settings, env)
    except ConfigError:
        return ConfigError


@settings(max_examples=400, deadline=None)
@given(ENVIRONMENTS)
def test_the_environment_reads_as_pydantic_settings_read_it(env: dict[str, str]) -> None:
    assert _ours(env) == _oracle(env)


@pytest.mark.parametrize(
    "env",
    [
        {"AIRLOCK_STORE__URL": "postgresql+asyncpg://db/airlock"},
        {"AIRLOCK_API__AUDITOR_GROUPS": '["sec"]', "AIRLOCK_API__LISTEN": "0.0.0.0:1"},
        {"AIRLOCK_STORE": '{"url": "a"}', "AIRLOCK_STORE__URL": "b"},
        {"AIRLOCK_SIGNING_KEY": "k", "AIRLOCK_URL": "http://x", "AIRLOCK_TOKEN": "t"},
        {"airlock_listeners__mysql": "127.0.0.1:3307", "AIRLOCK_CONNECTIONS": "[]"},
        {"AIRLOCK_STORE__URL__X": "y", "AIRLOCK_STORE__NOPE": "1"},
        {"AIRLOCK_CONNECTIONS": ""},
        {"AIRLOCK_API__ADMIN_GROUPS": "not json"},
    ],
)
def test_what_deployments_set_reads_as_before(env: dict[str, str]) -> None:
    assert _ours(env) == _oracle(env)


def test_overrides_lie_over_the_file_key_by_key(tmp_path: Path) -> None:
    config = tmp_path / "airlock.toml"
    config.write_text(
        '[store]\nurl = "sqlite+aiosqlite:///x.db"\n[api]\nlisten = "127.0.0.1:9"\n'
        'admin_groups = ["ops"]\n',
        encoding="utf-8",
    )
    env = {"AIRLOCK_API__LISTEN": "127.0.0.1:10", "AIRLOCK_SIGNING_KEY": "k"}
    with mock.patch.dict(os.environ, env):
        loaded = load_settings(config)
    assert loaded.api.listen == "127.0.0.1:10"
    assert loaded.api.admin_groups == ["ops"]  # the file's, untouched by the other key
    assert loaded.store.url == "sqlite+aiosqlite:///x.db"
    assert loaded.signing_key == "k"
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}, "d": 4}) == {
        "a": {"b": 3, "c": 2},
        "d": 4,
    }


def test_a_value_that_is_not_json_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic-settings ended the command with a traceback here."""
    monkeypatch.chdir(tmp_path)  # no ./airlock.toml: the defaults and the environment
    monkeypatch.setenv("AIRLOCK_API__ADMIN_GROUPS", "ops")
    with pytest.raises(ConfigError, match="AIRLOCK_API__ADMIN_GROUPS: not JSON"):
        load_settings()


def test_an_unknown_key_of_a_section_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRLOCK_STORE__NOPE", "1")
    with pytest.raises(ConfigError, match=r"store\.nope: Extra inputs are not permitted"):
        load_settings()
