"""``airlock sessions replay ID``'s player for recorded SSH shells (asciicast v2).

``play`` writes each output event to the terminal at its time (``speed`` times faster; pauses
longer than ``idle_limit`` seconds shortened to it), as ``asciinema play`` does; ``--cast``
prints the recording as an asciicast v2 file instead (``airlock sessions replay ID --cast >
s.cast; asciinema play s.cast``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["cast_text", "play"]


def cast_text(recording: dict[str, Any]) -> str:
    """The recording as an asciicast v2 file."""
    lines = [json.dumps(recording["header"])]
    lines += [json.dumps(event, ensure_ascii=False) for event in recording["events"]]
    return "\n".join(lines) + "\n"


def play(
    recording: dict[str, Any],
    *,
    speed: float = 1.0,
    idle_limit: float = 2.0,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Play the output events at their times; returns the seconds it waited in all."""
    stream = out if out is not None else sys.stdout
    waited, last = 0.0, 0.0
    for at, code, data in recording["events"]:
        pause = min(max(float(at) - last, 0.0), idle_limit) / max(speed, 1e-6)
        last = float(at)
        if code != "o":
            continue
        if pause > 0:
            sleep(pause)
            waited += pause
        stream.write(data)
        stream.flush()
    return waited
