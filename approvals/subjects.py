"""One person, one spelling: the canonical form of a subject (an e-mail, a service account's
name, an issuer's ``sub``) and the caseless comparison built on it.

Every identity that enters Airlock (a gateway token, an OIDC token, a ``[[people]]`` entry, a
chat profile's e-mail, a configured approver or owner, a revocation) is turned into this form
where it becomes a domain value (:class:`approvals.model.Identity`, :class:`~approvals.model.Actor`,
:class:`~approvals.model.ApproverRule`, :class:`~approvals.model.Owners`), so that
``Bob@Example.com`` and ``bob@example.com`` are one person to the policy (self-approval, quorum,
approver identities), to delegations, revocations and every lookup.

The form is Unicode caseless matching of identifiers (the Unicode Standard, section 3.13,
"toNFKC_Casefold" in spirit): NFKC, then full case folding, then NFKC again, with surrounding
white space removed. ASCII (nearly every subject) takes a fast path that gives the same result.
Its limit: two *different* mailboxes whose names differ only by case or by a compatibility form
(``Straße`` / ``STRASSE``, a Kelvin sign for ``K``) are one subject here; an organisation whose
mail system keeps such pairs apart must not give both to different people.
"""

from __future__ import annotations

import unicodedata

__all__ = ["canonical", "same_subject"]


def canonical(subject: str) -> str:
    """The one spelling of ``subject`` that every comparison and every stored row uses."""
    text = subject.strip()
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def same_subject(a: str, b: str) -> bool:
    """Are ``a`` and ``b`` the same subject, whatever their case?"""
    return canonical(a) == canonical(b)
