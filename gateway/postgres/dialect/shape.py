"""A statement text's literal shape: the text with its plain constants replaced by markers.

Two texts with the same shape differ only in the values of plain string and numeric constants
at the same places, so PostgreSQL parses them into the same tree up to those constants: the
same libpg_query fingerprint. ``Guardrails`` serves a verdict by shape only where it would
serve it by fingerprint (no literal influenced it), at a fraction of a parse's cost.

The scan is deliberately narrow and gives up (None) wherever PostgreSQL's lexer is subtle:
backslashes, NUL, dollar signs (dollar quoting, parameters), comments and ';' before the end,
anywhere in the text (the fingerprint level's conditions too), and a quote right after a
letter, digit, ``_``, ``$``, ``&`` or a non-ASCII character (E'', B'', X'', N'', U&'' and the
like). A number touching an identifier character, a dot or a quote is left as it is (part of an
identifier, or a form not judged here: hex, underscores, trailing junk), as is an unterminated
string. Double-quoted identifiers are copied as they are; strings may contain doubled quotes.
The markers contain NUL, which no accepted text has, so a shape never equals a text's own
characters.

One regular-expression pass finds the tokens (in C); only literals and quoted identifiers cost
a Python call.
"""

from __future__ import annotations

import re

__all__ = ["literal_shape"]

STRING = "\x00s"
NUMBER = "\x00n"
# Each pattern opens with a lookahead of the characters a match can start with, so re skips to
# them with a character-set scan instead of trying every alternative (and the number's
# lookbehinds) at every position: the whole shape costs a third of what it did.
# Anywhere in the text (conservatively, also inside literals): the scan gives up.
_GIVE_UP = re.compile(r"(?=[\\\x00$;/-])(?:[\\\x00$;]|--|/\*)")
# Leftmost first, so a quote or digit inside an earlier token belongs to that token. A number
# touching an identifier character, a dot or a dollar on either side, or right after an
# exponent's sign (the tail of 3E+7.1), is left as it is (part of an identifier, or a form this
# scan does not judge).
_TOKENS = re.compile(
    r"""(?=['"0-9])"""
    r"""(?:(?P<string>'(?:[^']|'')*')"""
    r"""|(?P<ident>"(?:[^"]|"")*")"""
    r"""|(?<![A-Za-z0-9_$.\x80-\U0010ffff])(?<![eE][+-])"""
    r"""(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"""
    r"""(?![A-Za-z0-9_$.'"\x80-\U0010ffff]))"""
)
_PREFIX = re.compile(r"[A-Za-z0-9_$&\x80-\U0010ffff]")  # E'', B'', X'', N'', U&'', U&""


class _GaveUp(Exception):
    pass


def _replace(match: re.Match[str]) -> str:
    start = match.start()
    if start and _PREFIX.fullmatch(match.string[start - 1]) and match.lastgroup != "number":
        raise _GaveUp
    group = match.lastgroup
    if group == "string":
        return STRING
    if group == "number":
        return NUMBER
    return match.group()  # a quoted identifier, as it is


def literal_shape(text: str) -> str | None:
    """The shape of ``text``, or None when the scan gives up (see the module docs)."""
    body = text.rstrip("; \n\t")  # trailing semicolons end the only statement
    if not body or _GIVE_UP.search(body) or "\\" in text or "\x00" in text:
        return None
    try:
        return _TOKENS.sub(_replace, body)
    except _GaveUp:
        return None
