"""The protocol-free session core."""

from gateway.sessions.target import Target, build_targets, unserved

__all__ = ["Target", "build_targets", "unserved"]
