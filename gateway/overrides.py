"""The settings the environment overrides: ``AIRLOCK_*`` variables, read as pydantic-settings
reads them (``env_prefix="AIRLOCK_"``, ``env_nested_delimiter="__"``, names in any case), so a
deployment's variables mean what they meant. Two things differ: a value that is not JSON where
JSON is due is a ConfigError naming its variable (pydantic-settings ended the command with a
traceback), and commands that load the settings no longer import pydantic-settings (about
10 ms of `airlock audit verify`'s 290, measured in pairs).

- ``AIRLOCK_<FIELD>`` sets a top-level field: a list or a section is given as JSON
  (``AIRLOCK_CONNECTIONS='[{...}]'``), anything else as the text;
- ``AIRLOCK_<SECTION>__<KEY>`` sets one key of a section (``AIRLOCK_STORE__URL``), over the
  section's JSON when both are set; a list key is JSON (``AIRLOCK_API__AUDITOR_GROUPS='["sec"]'``).
  Deeper paths nest further. A key the section does not have is passed on, and the section
  refuses it as it refuses one in the TOML file;
- a variable naming no top-level field is not a setting (``AIRLOCK_URL``, ``AIRLOCK_TOKEN``);
- an empty value is the empty text (it is not "unset"); for a list or a section, it is not
  JSON.

``merge`` lays the overrides over the TOML file's values, section by section, key by key.
tests/gateway/test_overrides.py holds this to pydantic-settings' own reading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gateway.errors import ConfigError

__all__ = ["environment_overrides", "merge"]

PREFIX = "airlock_"
NESTED = "__"
_COMPLEX = (list, dict, set, frozenset, tuple)


def environment_overrides(model: type[BaseModel], environ: Mapping[str, str]) -> dict[str, Any]:
    """The values ``environ`` sets for ``model``'s fields (ConfigError: a JSON value that
    does not parse, naming its variable)."""
    variables = {name.lower(): value for name, value in environ.items()}
    found: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        variable = PREFIX + name
        value: Any = variables.get(variable)
        if not _is_complex(field.annotation):
            if value is not None:
                found[name] = value
            continue
        if value is None:
            nested = _explode(variable + NESTED, field, variables)
            if nested:
                found[name] = nested
            continue
        value = _json(variable, value)
        if isinstance(value, dict):  # the keys' variables over the section's JSON
            value = merge(value, _explode(variable + NESTED, field, variables))
        found[name] = value  # a list (or any JSON but an object) is taken whole
    return found


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on it: a mapping in both is merged, anything else replaced."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(below, value)
        else:
            merged[key] = value
    return merged


def _explode(prefix: str, field: FieldInfo, variables: Mapping[str, str]) -> dict[str, Any]:
    """``<prefix><key>[__<key>...]`` variables as nested values: the last key's value is
    JSON when that key is a list or a section of the model it belongs to."""
    found: dict[str, Any] = {}
    for variable, value in variables.items():
        if not variable.startswith(prefix):
            continue
        *keys, last = variable[len(prefix) :].split(NESTED)
        target: FieldInfo | None = field
        place = found
        for key in keys:
            target = _subfield(target, key)
            below = place.setdefault(key, {})
            if not isinstance(below, dict):
                break  # a value was set here already: a path through it sets nothing
            place = below
        else:
            target = _subfield(target, last)
            if target is not None and value and _is_complex(target.annotation):
                place[last] = _json(variable, value)
            else:
                place[last] = value
    return found


def _subfield(field: FieldInfo | None, key: str) -> FieldInfo | None:
    """The field ``key`` of a section-typed ``field``; None when there is none."""
    annotation = field.annotation if field is not None else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.model_fields.get(key)
    return None


def _is_complex(annotation: Any) -> bool:
    """A section, or a list/dict/set: the environment gives it as JSON. (A union is complex
    when one of its arms is; pydantic-settings then keeps a value that is not JSON as text,
    a case no setting of ours has.)"""
    origin = get_origin(annotation)
    if origin is Union or (origin is not None and origin.__module__ == "types"):
        return any(_is_complex(arm) for arm in get_args(annotation) if arm is not type(None))
    kind = origin if origin is not None else annotation
    if not isinstance(kind, type) or issubclass(kind, (str, bytes)):
        return False
    return issubclass(kind, (BaseModel, *_COMPLEX))


def _json(variable: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ConfigError(
            f"{variable.upper()}: not JSON ({exc}); a list or a section is given as JSON"
        ) from None
