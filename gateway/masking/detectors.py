"""Value detectors: find sensitive entities inside text and mask them.

A detector is a tuple of rules. A rule is a candidate regex over ASCII (explicit boundaries,
possessive or bounded quantifiers, so a scan stays linear in the value's length) plus a check
that confirms the candidate with arithmetic (Luhn, brand tables, mod-97, SSN ranges, a JWT header
that decodes) and may narrow it to a sub-span. Rules marked ``context_only`` run only when the
column's name says what it holds (bare 9 digits in an ``ssn`` column, bare digits in ``phone``).

Masks: partial where the kept part is not secret (``************1881``, ``***-**-6789``,
``u***@example.com``), full where a partial value would still be a credential (``[masked jwt]``,
``AKIA************``). Every replacement is ASCII without quotes or backslashes, so it is safe
inside a JSON string, an array element and UTF-8 text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from gateway.masking.checks import (
    Span,
    card_number,
    check_any,
    check_card,
    check_email,
    check_iban,
    check_jwt,
    check_phone_context,
    check_phone_intl,
    check_phone_nanp,
    check_phone_national,
    check_ssn,
    phone_number,
    ssn_number,
)
from gateway.masking.masks import keep_last_digits, mask_aws, mask_email, mask_iban, mask_jwt

__all__ = [
    "AWS_ACCESS_KEY",
    "CREDIT_CARD",
    "DETECTORS",
    "EMAIL",
    "GENERIC_MASK",
    "IBAN",
    "JWT",
    "PHONE",
    "SSN",
    "Detector",
    "Finding",
    "Rule",
    "apply_findings",
    "find_all",
    "keep_last_digits",
    "mask_text",
    "mask_value",
    "name_tokens",
    "without_overlaps",
]

GENERIC_MASK = "********"


class Finding(NamedTuple):
    """One confirmed entity: ``text[start:end]`` is replaced by ``replacement``."""

    detector: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A candidate pattern and the check that confirms (and possibly narrows) a candidate."""

    source: str
    check: Callable[[str], Span | None]
    context_only: bool = False
    min_digits: int = 0  # every candidate has at least this many ASCII digits
    hints: tuple[str, ...] = ()  # every candidate contains one of these ASCII substrings
    hint_pattern: str = ""  # or: every candidate contains a match of this (cheap) regex
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    bytes_regex: re.Pattern[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.source, re.ASCII))
        object.__setattr__(self, "bytes_regex", re.compile(self.source.encode("ascii")))


@dataclass(frozen=True, slots=True)
class Detector:
    """A named entity detector with its masker.

    ``number_check(digits, in_context)`` says whether an integer column's value (digits only, no
    sign) is the entity; None means the entity never appears as a bare number.
    """

    name: str
    rules: tuple[Rule, ...]
    mask: Callable[[str], str]
    context_words: tuple[frozenset[str], ...] = ()
    number_check: Callable[[str, bool], bool] | None = None
    number_min_digits: int = 0
    number_needs_context: bool = False

    def find(self, text: str, *, context: bool = False) -> list[Finding]:
        """Confirmed entities in ``text``, left to right, without overlaps."""
        found: list[Finding] = []
        for rule in self.rules:
            if rule.context_only and not context:
                continue
            for m in rule.regex.finditer(text):
                span = rule.check(m.group())
                if span is not None:
                    start, end = m.start() + span[0], m.start() + span[1]
                    found.append(Finding(self.name, start, end, self.mask(text[start:end])))
        return without_overlaps(found) if len(found) > 1 else found

    def matches(self, text: str, *, context: bool = False) -> bool:
        """True when the whole of ``text`` (surrounding whitespace aside) is one entity."""
        core = text.strip()
        return any(f.start == 0 and f.end == len(core) for f in self.find(core, context=context))

    def in_context(self, column_name: str) -> bool:
        """True when a column with this name is declared to hold the entity."""
        return self.in_context_tokens(name_tokens(column_name))

    def in_context_tokens(self, tokens: frozenset[str]) -> bool:
        """``in_context`` for a column name already split by ``name_tokens``."""
        return any(words <= tokens for words in self.context_words)

    def active_rules(self, *, context: bool) -> tuple[Rule, ...]:
        """The rules that run with or without column context."""
        return tuple(r for r in self.rules if context or not r.context_only)


def without_overlaps(found: list[Finding]) -> list[Finding]:
    """Findings in order; where two overlap, the earlier (then the longer) one wins."""
    found.sort(key=lambda f: (f.start, f.start - f.end))
    kept: list[Finding] = []
    end = -1
    for f in found:
        if f.start >= end:
            kept.append(f)
            end = f.end
    return kept


_NAME_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", re.ASCII)


@lru_cache(maxsize=4096)
def name_tokens(name: str) -> frozenset[str]:
    """Lower-case words of an identifier: ``customerSSN`` and ``customer_ssn`` → customer, ssn."""
    return frozenset(t.lower() for t in _NAME_TOKEN.findall(name))


# --- the detectors ---------------------------------------------------------------------------
# Every pattern starts with a character class or literal (so the regex engine skips ahead to a
# possible first character in C) and checks the character before the match with a lookbehind
# placed after that first character: "[0-9](?<![0-9A-Za-z][0-9])" = a digit not preceded by an
# alphanumeric.

_END_NUMBER = r"(?![0-9A-Za-z])(?![.,][0-9])"

CREDIT_CARD = Detector(
    name="credit_card",
    rules=(
        Rule(
            r"[0-9](?<![0-9A-Za-z][0-9])(?<![0-9][.,][0-9])"
            r"(?:[0-9]{12,18}|[0-9]{3}(?:[ -][0-9]{3,7}){2,5})" + _END_NUMBER,
            check_card,
            min_digits=13,
        ),
    ),
    mask=keep_last_digits,
    number_check=card_number,
    number_min_digits=13,
)

SSN = Detector(
    name="ssn",
    rules=(
        Rule(
            r"[0-9](?<![0-9A-Za-z][0-9])(?<![0-9]-[0-9])[0-9]{2}-[0-9]{2}-[0-9]{4}"
            r"(?![0-9A-Za-z])(?!-[0-9])",
            check_ssn,
            min_digits=9,
        ),
        Rule(
            r"[0-9](?<![0-9A-Za-z][0-9])(?<![0-9][-. ][0-9])"
            r"(?:[0-9]{8}|[0-9]{2}[ .][0-9]{2}[ .][0-9]{4})(?![0-9A-Za-z])(?![-. ][0-9])",
            check_ssn,
            context_only=True,
            min_digits=9,
        ),
    ),
    mask=keep_last_digits,
    context_words=(frozenset({"ssn"}), frozenset({"ssns"}), frozenset({"social", "security"})),
    number_check=ssn_number,
    number_min_digits=7,
    number_needs_context=True,
)

_LOCAL = "[A-Za-z0-9.!#$%&'*+/=?^_`~-]"  # RFC 5322 atext less { | }: they delimit arrays
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-])"
EMAIL = Detector(
    name="email",
    rules=(
        Rule(
            _LOCAL + "(?<!" + _LOCAL + _LOCAL + ")" + _LOCAL + "*+@" + _DOMAIN,
            check_email,
            hints=("@",),
        ),
    ),
    mask=mask_email,
)

IBAN = Detector(
    name="iban",
    rules=(
        Rule(
            r"[A-Z](?<![0-9A-Za-z][A-Z])[A-Z][0-9]{2}(?: ?[0-9A-Z]){11,30}",
            check_iban,
            min_digits=2,
            hint_pattern=r"[A-Z][A-Z][0-9][0-9]",
        ),
    ),
    mask=mask_iban,
)

_PHONE_START = r"(?<![0-9A-Za-z+][(0-9])(?<![0-9][.,-][(0-9])"
_PHONE_END = r"(?![0-9A-Za-z])(?![.,-][0-9])"
PHONE = Detector(
    name="phone",
    rules=(
        # E.164, written with or without separators: +14155552671, +44 (0)20 7946 0958
        Rule(
            r"\+(?<![0-9A-Za-z+]\+)[1-9][0-9]{0,14}"
            r"(?:(?:[ .-]|[ .-]?\(|\)[ .-]?)[0-9]{1,14}){0,7}(?![0-9A-Za-z])",
            check_phone_intl,
            min_digits=8,
            hints=("+",),
        ),
        # NANP: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199 (not spaces only)
        Rule(
            r"[(1-9]" + _PHONE_START
            + r"(?:(?<=1)[ .-]?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[.-])"
            r"|(?<=\()[2-9][0-9]{2}\) ?|(?<=[2-9])[0-9]{2}[.-])"
            r"[2-9][0-9]{2}[.-][0-9]{4}" + _PHONE_END,
            check_phone_nanp,
            min_digits=10,
        ),
        # national with trunk prefix 0 and grouping: 020 7946 0958, 01 23 45 67 89
        Rule(
            "0" + _PHONE_START + r"[1-9][0-9]{0,4}(?:[ -][0-9]{2,8}){1,4}" + _PHONE_END,
            check_phone_national,
            min_digits=10,
        ),
        # in a column named as a phone: bare digits too
        Rule(
            r"[+(0-9](?<![0-9A-Za-z][+(0-9])(?:(?<=\+)\(?[0-9]|(?<=\()[0-9]|(?<=[0-9]))"
            r"(?:[ .()/-]{0,2}[0-9]){6,14}(?![0-9A-Za-z])",
            check_phone_context,
            context_only=True,
            min_digits=7,
        ),
    ),
    mask=keep_last_digits,
    context_words=tuple(
        frozenset({w})
        for w in ("phone", "phones", "phonenumber", "telephone", "tel", "mobile", "cell",
                  "cellphone", "msisdn", "fax")
    ),
    number_check=phone_number,
    number_min_digits=7,
    number_needs_context=True,
)  # fmt: skip

AWS_ACCESS_KEY = Detector(
    name="aws_access_key",
    rules=(
        Rule(
            r"A(?<![0-9A-Za-z]A)(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Za-z])",
            check_any,
            hints=("AKIA", "ASIA"),
        ),
    ),
    mask=mask_aws,
)

JWT = Detector(
    name="jwt",
    rules=(
        Rule(
            r"e(?<![0-9A-Za-z_-]e)[wy][0-9A-Za-z_-]*+\.[0-9A-Za-z_-]++\.[0-9A-Za-z_-]*+",
            check_jwt,
            hint_pattern=r"e[wy][0-9A-Za-z_-]{10}",
        ),
    ),
    mask=mask_jwt,
)

DETECTORS: Mapping[str, Detector] = {
    d.name: d for d in (CREDIT_CARD, SSN, EMAIL, IBAN, PHONE, AWS_ACCESS_KEY, JWT)
}


def find_all(
    text: str, detectors: Iterable[Detector], *, context: Collection[str] = ()
) -> list[Finding]:
    """Findings of all ``detectors`` (``context``: names that get their context rules)."""
    found: list[Finding] = []
    for d in detectors:
        found.extend(d.find(text, context=d.name in context))
    return without_overlaps(found) if len(found) > 1 else found


def apply_findings(text: str, findings: Iterable[Finding]) -> str:
    """``text`` with each (non-overlapping, ordered) finding replaced."""
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f.replacement)
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def mask_text(
    text: str, detectors: Iterable[Detector], *, context: Collection[str] = ()
) -> tuple[str, dict[str, int]]:
    """Mask every entity found in ``text``; returns the new text and hits per detector."""
    found = find_all(text, detectors, context=context)
    counts: dict[str, int] = {}
    for f in found:
        counts[f.detector] = counts.get(f.detector, 0) + 1
    return (apply_findings(text, found) if found else text), counts


_DIGITISH = re.compile(r"[0-9 ()+./-]*[0-9][0-9 ()+./-]*", re.ASCII)


def mask_value(text: str) -> str:
    """Mask a whole value of a column that a rule names as sensitive (text form).

    Digit strings (cards, SSNs, phones, account numbers) keep their separators and, when they
    have at least 9 digits, their last 4; an e-mail keeps its domain; an IBAN its country and last
    4; a JWT or AWS key gets its fixed mask; anything else becomes ``********`` (hiding even the
    length). An empty value stays empty.
    """
    core = text.strip()
    if not core:
        return text
    if _DIGITISH.fullmatch(core):
        return keep_last_digits(core, 4 if sum(ch.isdigit() for ch in core) >= 9 else 0)
    if "@" in core and _WHOLE_EMAIL.fullmatch(core):
        return EMAIL.mask(core)
    head = core[:4]
    if head[:2].isupper() and head[2:].isdigit() and IBAN.matches(core):
        return IBAN.mask(core)
    for detector, first in _WHOLE_VALUE_CHECKS:
        if head.startswith(first) and detector.matches(core):
            return detector.mask(core)
    return GENERIC_MASK


_WHOLE_EMAIL = re.compile(_LOCAL + "++@" + _DOMAIN, re.ASCII)
_WHOLE_VALUE_CHECKS = ((AWS_ACCESS_KEY, ("AKIA", "ASIA")), (JWT, ("ey", "ew")))
