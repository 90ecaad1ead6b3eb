"""A PostgreSQL connection as the listener serves it: its config, guardrails and masking."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import ConnectionConfig
from gateway.errors import ConfigError
from gateway.guardrails import RuleError
from gateway.masking import MaskingError
from gateway.postgres.dialect import Guardrails, MaskingPolicy

__all__ = ["Target", "build_targets"]


@dataclass(frozen=True)
class Target:
    config: ConnectionConfig
    guardrails: Guardrails
    masking: MaskingPolicy | None

    @property
    def name(self) -> str:
        return self.config.name


def build_targets(connections: list[ConnectionConfig]) -> dict[str, Target]:
    """One Target per postgres connection; bad rules or masking config raise ConfigError."""
    targets: dict[str, Target] = {}
    for conn in connections:
        if conn.type != "postgres":
            continue
        try:
            guardrails = Guardrails.from_config(conn.guardrails, conn.rules)
            masking = MaskingPolicy(
                columns=tuple(conn.masking.columns), detectors=tuple(conn.masking.detectors)
            )
        except (RuleError, MaskingError) as exc:
            raise ConfigError(f"connection {conn.name}: {exc}") from exc
        targets[conn.name] = Target(conn, guardrails, None if masking.is_empty else masking)
    return targets
