"""Maskers: the replacement text for a confirmed entity.

Partial where the kept part is not secret, full where a partial value would still be a credential.
Every replacement is ASCII without quotes, backslashes or braces.
"""

from __future__ import annotations

__all__ = ["keep_last_digits", "mask_aws", "mask_email", "mask_iban", "mask_jwt"]


def keep_last_digits(text: str, keep: int = 4) -> str:
    """Replace every ASCII digit but the last ``keep`` with ``*``; separators stay."""
    hide = sum(1 for ch in text if "0" <= ch <= "9") - keep
    out: list[str] = []
    for ch in text:
        if hide > 0 and "0" <= ch <= "9":
            out.append("*")
            hide -= 1
        else:
            out.append(ch)
    return "".join(out)


def mask_email(text: str) -> str:
    """First character of the local part, ``***``, then the domain: ``u***@example.com``."""
    local, _, domain = text.rpartition("@")
    return (local[0] + "***" if len(local) > 1 else "***") + "@" + domain


def mask_iban(text: str) -> str:
    """Country code and last 4 characters kept, spaces kept, the rest starred."""
    total = sum(1 for ch in text if ch.isalnum())
    seen = 0
    out: list[str] = []
    for ch in text:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen <= 2 or seen > total - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_aws(text: str) -> str:
    """The key-type prefix (AKIA/ASIA) and stars."""
    return text[:4] + "************"


def mask_jwt(text: str) -> str:
    """A fixed replacement: no part of a token is safe to show."""
    return "[masked jwt]"
