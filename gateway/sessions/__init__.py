"""The protocol-free session core."""

from gateway.sessions.target import Target, build_targets

__all__ = ["Target", "build_targets"]
