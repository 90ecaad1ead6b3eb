"""Text helpers shared by the renderers: cleaning, Slack escaping and measuring, fitting text
into a length limit with a visible note, and formatting times and durations.

Pure functions, stdlib only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = [
    "clean",
    "escape_mrkdwn",
    "escape_short",
    "fit",
    "format_duration",
    "format_time",
    "shorten",
    "slack_len",
    "slack_time",
]

# C0/C1 controls except tab and newline, lone surrogates, and the bidirectional overrides and
# isolates that can make a statement read differently from what runs ("Trojan Source").
_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_BACKTICK_RUN = re.compile(r"`(?=`)")
_ZWSP = "\u200b"
_MRKDWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def clean(text: str) -> str:
    """Normalise newlines and replace characters that must not reach a chat client with U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSAFE.sub("\ufffd", text)


def escape_mrkdwn(text: str, *, code: bool = False) -> str:
    """Clean ``text`` and escape Slack's control characters (&, <, >) so that it cannot form a
    mention, a link or a date; with ``code``, also break runs of backticks so that the text cannot
    close the code block it is shown in."""
    escaped = clean(text).translate(_MRKDWN_ESCAPES)
    if code:
        escaped = _BACKTICK_RUN.sub("`" + _ZWSP, escaped)
    return escaped


def escape_short(text: str, limit: int) -> str:
    """``text`` cleaned, escaped and cut so that the result, with its "…", fits ``limit``."""
    return fit(
        text, limit, lambda prefix, omitted: escape_mrkdwn(prefix) + ("…" if omitted else "")
    )


def slack_len(text: str) -> int:
    """Length as Slack may count it: UTF-16 code units (never less than code points)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit(
    raw: str,
    limit: int,
    render: Callable[[str, int], str],
    measure: Callable[[str], int] = slack_len,
) -> str:
    """``render(raw, 0)`` if it fits in ``limit``; else ``render(prefix, omitted)`` for the
    longest prefix of ``raw`` that fits, where ``omitted`` counts the characters left out.

    ``render`` must grow with its prefix. If even an empty prefix does not fit, the rendering of
    the empty prefix is cut hard to the limit.
    """
    whole = render(raw, 0)
    if measure(whole) <= limit:
        return whole
    lo, hi = 0, min(len(raw), limit)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(render(raw[:mid], len(raw) - mid)) <= limit:
            lo = mid
        else:
            hi = mid - 1
    best = render(raw[:lo], len(raw) - lo)
    if measure(best) <= limit:
        return best
    return _hard_cut(best, limit, measure)


def _hard_cut(text: str, limit: int, measure: Callable[[str], int]) -> str:
    cut = text[:limit]
    while cut and measure(cut) > limit:
        cut = cut[:-1]
    return cut


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` (Slack-counted) characters, ending in "…" when cut."""
    return fit(text, limit, lambda prefix, omitted: prefix + ("…" if omitted else ""))


def format_time(when: datetime) -> str:
    """``2024-05-01 12:15 UTC``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_time(when: datetime) -> str:
    """A Slack date token shown in each reader's own time zone, with a UTC fallback."""
    epoch = int(when.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{format_time(when)}>"


def format_duration(delta: timedelta) -> str:
    """``2h``, ``1h 30m``, ``1d 4h``, ``45s``; the largest two units that are not zero."""
    seconds = max(int(delta.total_seconds()), 0)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2]) if parts else "0s"
