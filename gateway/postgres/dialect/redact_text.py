"""Secrets in text the parse tree does not structure: a literal's value (a connection string,
a URI, a JSON document, a key), and opaque text (a DO or function body, a text that does not
parse). Used by :mod:`gateway.postgres.dialect.redact`; see there for the rules.

``redact_value(value)``: a value with the secrets recognisable in it replaced (libpq conninfo
``password=`` / ``sslpassword=``, ODBC ``PWD=``, a URI's ``user:password@``, ``?password=``, a
JSON ``"...password...": ...`` member, a PEM private key block, a role's password verifier
(``SCRAM-SHA-256$...``, ``md5`` + 32 hex digits)). Connection strings keep their host, port,
user and database readable.

``literal_value(raw)``: the value of a string-literal token as the server reads it (plain,
``E''``, dollar-quoted; ``None`` for one it does not decode here: ``U&''``, bit strings).
"""

from __future__ import annotations

import re

from gateway.guardrails import REDACTED

__all__ = [
    "ESCAPED",
    "LOOK",
    "NOTHING",
    "PLACEHOLDER",
    "SECRET_NAME",
    "TRIGGER",
    "WORDS",
    "is_secret_name",
    "literal_value",
    "needs",
    "quote",
    "redact_value",
    "tree_needs_look",
    "triggered",
]

PLACEHOLDER = f"'{REDACTED}'"  # what replaces a secret literal in a shown statement

# A name (option, setting, column, named argument) whose value is a secret.
SECRET_NAME = re.compile(
    r"password|passwd|passphrase|pwd|psw|secret|token|credential|conninfo|private_?key"
    r"|api_?key|access_?key|auth_?key|encryption_?key|ssl_?key|signing_?key",
    re.IGNORECASE,
)

# A text in which none of these words occurs (lower-cased) holds no secret the redactor
# finds: nothing to do. A superset of every name, function and value pattern below. Plain
# substring tests: Python's re with alternatives costs 40 ns a character (a 650-character parse
# tree took 25 us), ``in`` a fraction of that.
WORDS = (
    "pass", "pwd", "psw", "secret", "token", "credential", "conninfo", "private", "crypt",
    "hmac", "dblink", "pgp_", "set_config", "mapping", "scram", "://", "api_key", "apikey",
    "access_key", "accesskey", "auth_key", "authkey", "encryption_key", "encryptionkey",
    "ssl_key", "sslkey", "signing_key", "signingkey",
)  # fmt: skip
# What hides a word from that test: backslash escapes (E'', U&'' escapes), U& identifiers.
ESCAPES = ("\\", "u&")
_MD5 = re.compile(r"md5[0-9a-f]{32}")  # an md5 password verifier
# Where the first possible secret starts, for a text that cannot be read at all.
TRIGGER = re.compile("|".join(re.escape(w) for w in (*WORDS, *ESCAPES, "md5")))

NOTHING, ESCAPED, LOOK = 0, 1, 2


def needs(lowered: str) -> int:
    """How closely a lower-cased text must be looked at: NOTHING (no secret the redactor could
    find), ESCAPED (only escapes could hide one: look at the parsed values), LOOK."""
    for word in WORDS:
        if word in lowered:
            return LOOK
    if "md5" in lowered and _MD5.search(lowered):
        return LOOK
    return ESCAPED if "\\" in lowered or "u&" in lowered else NOTHING


def triggered(text: str) -> bool:
    """Whether ``text`` may hold a secret the redactor finds (else it needs no look).

    An ASCII text up to ``SKELETON_MAX`` characters is answered by its skeleton: lower-cased,
    its digits removed. Texts that differ only in their numbers (pgbench's, any client's
    literals in the simple protocol) share one, so the thirty word searches run once per
    skeleton. Sound because the skeleton answers for itself: every word of ``WORDS`` and
    ``ESCAPES`` is digit-free, so one that occurs in a text occurs in its skeleton too (removing
    digits elsewhere cannot split it; it may join letters into a word the text lacks, which only
    looks closer); ``md5``, the one test with digits, is made on the text itself when its
    skeleton has ``md`` (one pass of ``translate`` lower-cases and removes the digits).
    """
    if text.isascii() and len(text) <= SKELETON_MAX:
        skeleton = text.encode("ascii").translate(_LOWER, b"0123456789")
        if b"md" not in skeleton:
            found = _SKELETONS.get(skeleton)
            if found is None:
                if len(_SKELETONS) >= SKELETONS:
                    _SKELETONS.clear()
                found = _SKELETONS[skeleton] = needs(skeleton.decode("ascii")) != NOTHING
            return found
    return needs(text.lower()) != NOTHING


_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
SKELETON_MAX = 2048  # characters: longer texts are searched each time (the memo stays small)
SKELETONS = 4096  # skeletons remembered (then it starts over)
_SKELETONS: dict[bytes, bool] = {}  # skeleton -> triggered (shared by every session: a pure fact)


def tree_needs_look(encoded: str) -> bool:
    """Whether a parse tree's JSON (values decoded: escapes hide nothing there) may hold a
    secret; a body (DO, CREATE FUNCTION) is opaque text and is always looked into."""
    lowered = encoded.lower()
    return needs(lowered) == LOOK or '"dostmt"' in lowered or '"createfunctionstmt"' in lowered


_VALUE = r"""('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\{[^}]*\}?|(?:[^\s;&'"\\]|\\.)+)"""
_PAIR = re.compile(
    r"(?<![\w.])((?:ssl)?password|passwd|pwd)(\s*=\s*)" + _VALUE,
    re.IGNORECASE,
)
_URI = re.compile(r"([a-z][a-z0-9+.-]*://[^\s:/@'\"?#]*:)([^\s@/'\"]*)(@)", re.IGNORECASE)
_JSON = re.compile(
    r"(\"[^\"]*(?:password|passwd|secret|token|api_?key|private_?key|credential)[^\"]*\"\s*:\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|[^\s,}\]]+)",
    re.IGNORECASE,
)
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----.*?"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY[A-Z0-9 ]*-----|\Z)",
    re.DOTALL,
)
_VERIFIER = re.compile(r"SCRAM-SHA-256\$[^\s'\"]*|\bmd5[0-9a-f]{32}\b", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a name (an option, a setting, a column) says its value is a secret."""
    return SECRET_NAME.search(name) is not None


def redact_value(value: str) -> str:
    """``value`` with the secrets recognisable in it replaced by ``<redacted>``."""
    if not triggered(value) and "BEGIN" not in value:
        return value
    value = _PEM.sub(REDACTED, value)
    value = _VERIFIER.sub(REDACTED, value)
    value = _PAIR.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", value)
    value = _URI.sub(lambda m: f"{m[1]}{REDACTED}{m[3]}", value)
    return _JSON.sub(lambda m: f'{m[1]}"{REDACTED}"', value)


_E_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_PLAIN = re.compile(r"'((?:[^']|'')*)'")


def literal_value(raw: str) -> str | None:
    """The value of a string-literal token (its source text ``raw``), or None."""
    if raw.startswith("$"):
        end = raw.index("$", 1) + 1
        return raw[end : len(raw) - end]
    head = raw[:1].upper()
    if head == "E":
        return _unescape(raw[1:])
    if head == "'":
        return "".join(m[1].replace("''", "'") for m in _PLAIN.finditer(raw))
    return None  # U&'', B'', X'': not decoded here


def _unescape(raw: str) -> str:
    """An E'' literal's segments, joined, with their backslash escapes applied."""
    body = "".join(m[1] for m in re.finditer(r"'((?:[^'\\]|''|\\.)*)'", raw, re.S))

    def one(m: re.Match[str]) -> str:
        code = m[1]
        if code[0] in "xuU" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _SIMPLE.get(code, code)

    return _E_ESCAPE.sub(one, body.replace("''", "'"))


def quote(value: str) -> str:
    """``value`` as a plain SQL string literal (for display)."""
    return "'" + value.replace("'", "''") + "'"
