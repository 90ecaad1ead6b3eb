"""A connection as a listener serves it: its config, and its dialect's guardrails and masking.

The composition root passes the dialects it has (connection type -> ``Dialect``);
``build_targets`` gives every connection of those types a ``Target``, and ``unserved`` names the
rest, which the composition root reports at start, one line each (docs/gateway.md, "Dialects").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.config import ConnectionConfig
from gateway.errors import ConfigError
from gateway.guardrails import (
    Dialect,
    DialectState,
    Redactor,
    RuleError,
    RuleSet,
    rules_from_config,
)
from gateway.masking import MaskingError, MaskingRules

__all__ = ["Target", "build_targets", "unserved"]

StateT = TypeVar("StateT", bound=DialectState)
PolicyT = TypeVar("PolicyT")


@dataclass(frozen=True)
class Target(Generic[StateT, PolicyT]):
    config: ConnectionConfig
    guardrails: RuleSet[StateT]
    masking: PolicyT | None
    redact: Redactor  # the dialect's: what a text may be shown and stored as

    @property
    def name(self) -> str:
        return self.config.name


def build_targets(
    connections: Iterable[ConnectionConfig], dialects: Mapping[str, Dialect[Any, Any]]
) -> dict[str, Target[Any, Any]]:
    """One Target per connection whose type a dialect serves; bad rules or masking config
    raise ConfigError naming the connection."""
    targets: dict[str, Target[Any, Any]] = {}
    for conn in connections:
        dialect = dialects.get(conn.type)
        if dialect is None:
            continue
        try:
            rules = rules_from_config(conn.guardrails, conn.rules)
            masking = MaskingRules(tuple(conn.masking.columns), tuple(conn.masking.detectors))
        except (RuleError, MaskingError) as exc:
            raise ConfigError(f"connection {conn.name}: {exc}") from exc
        targets[conn.name] = Target(
            conn, dialect.guardrails(rules), dialect.masking(masking), dialect.redact
        )
    return targets


def unserved(
    connections: Iterable[ConnectionConfig], dialects: Mapping[str, Dialect[Any, Any]]
) -> list[ConnectionConfig]:
    """The connections whose type no dialect in ``dialects`` serves."""
    return [conn for conn in connections if conn.type not in dialects]
