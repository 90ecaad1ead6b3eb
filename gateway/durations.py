"""Durations as the configuration and the command line spell them (``30s``, ``15m``, ``8h``,
``14d``): a module without pydantic, so that a command that only parses a duration
(``airlock token create --ttl``) need not load the configuration's models.
:mod:`gateway.config` re-exports :func:`parse_duration`; there is one parser."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> timedelta:
    """``"15m"``, ``"8h"``, ``"14d"``, ``"30s"``, ``"500ms"`` or a number of seconds."""
    if isinstance(text, int | float):
        return timedelta(seconds=text)
    parts = re.findall(r"\d+\s*(?:ms|s|m|h|d|w)", text)
    if not parts or "".join(parts).replace(" ", "") != text.replace(" ", ""):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 8h, 14d)")
    seconds = 0.0
    for part in parts:
        match = _DURATION.match(part)
        assert match is not None
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
    return timedelta(seconds=seconds)
