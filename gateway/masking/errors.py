"""Errors raised by result masking.

::

    MaskingError                      base of everything masking raises
    ├── MaskingConfigError            the policy itself is wrong (raised while loading config)
    │   ├── UnknownDetectorError      a detector name that does not exist
    │   └── InvalidColumnSpecError    a column spec that is not "name", "table.name" or
    │                                 "schema.table.name"
    └── MaskingInputError             what the upstream sent cannot be masked safely; the proxy
                                      must not forward the row (drop the session instead); each
                                      dialect subclasses it for its own result formats
"""

from __future__ import annotations

__all__ = [
    "InvalidColumnSpecError",
    "MaskingConfigError",
    "MaskingError",
    "MaskingInputError",
    "UnknownDetectorError",
]


class MaskingError(Exception):
    """Base class of every masking error."""


class MaskingConfigError(MaskingError):
    """The masking policy in the configuration is invalid."""


class UnknownDetectorError(MaskingConfigError):
    """A configured detector name is not one of the known detectors."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown masking detector {name!r}; known: {', '.join(known)}")


class InvalidColumnSpecError(MaskingConfigError):
    """A configured column spec cannot be parsed."""

    def __init__(self, spec: object, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"invalid masking column spec {spec!r}: {reason}")


class MaskingInputError(MaskingError):
    """Protocol input cannot be masked safely; the row must not be forwarded."""
