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
    "PLACEHOLDER",
    "SECRET_NAME",
    "TRIGGER",
    "is_secret_name",
    "literal_value",
    "quote",
    "redact_value",
    "triggered",
]

PLACEHOLDER = f"'{REDACTED}'"  # what replaces a secret literal in a shown statement

# A name (option, setting, column, named argument) whose value is a secret.
SECRET_NAME = re.compile(
    r"password|passwd|passphrase|pwd|psw|secret|token|credential|conninfo|private_?key"
    r"|api_?key|access_?key|auth_?key|encryption_?key|ssl_?key|signing_?key",
    re.IGNORECASE,
)

# A text in which none of these occurs (lower-cased) holds no secret the redactor finds:
# nothing to do. A superset of every name, function and value pattern below, plus what hides a
# spelling from a plain search: backslash escapes (E'', U&'' escapes) and U& identifiers.
# Factored by first letter and matched on the lower-cased text: IGNORECASE makes Python's re
# ten times slower (measured: 14 us against 1.3 us for a pgbench statement).
TRIGGER = re.compile(
    r"p(?:ass|wd|sw|gp_|rivate)|s(?:ecret|et_config|cram)|token|c(?:redential|onninfo|rypt)"
    r"|key|hmac|dblink|mapping|://|md5|\\|u&"
)


def triggered(text: str) -> bool:
    """Whether ``text`` may hold a secret the redactor finds (else it needs no look)."""
    return TRIGGER.search(text.lower()) is not None


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
