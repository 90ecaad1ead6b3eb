"""Row mapping and audit canonical form, over generated values (Hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from approvals.model import AccessRequest, Actor, Identity, IdentityKind, ReviewKind
from store.audit import GENESIS, PlainDetails, _event, _spliced_hash, chain_hash, event_fields
from store.errors import StoreError
from store.mapping import identity_from_json, identity_to_json, review_from_row, review_to_row
from tests.store.helpers import EPOCH, entry, review

names = st.text(min_size=1, max_size=20)
kinds = st.sampled_from(list(IdentityKind))
identities = st.builds(
    Identity,
    subject=names,
    kind=kinds,
    groups=st.frozensets(names, max_size=4),
    email=st.none() | st.emails(),
    actors=st.lists(st.builds(Actor, names, kinds), max_size=3).map(tuple),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@given(identities)
def test_identity_json_round_trip(identity: Identity) -> None:
    """Any identity, with its groups, e-mail and actor chain, survives the JSON round trip."""
    stored = json.loads(json.dumps(identity_to_json(identity)))
    assert identity_from_json(stored) == identity


@given(identities, st.none() | st.integers(1, 10**6), st.integers(0, 50))
def test_review_row_round_trip(requester: Identity, seconds: int | None, version: int) -> None:
    """A review (statement or access request) maps to a row and back unchanged."""
    access = (
        AccessRequest("read", timedelta(seconds=seconds), "INC-1") if seconds is not None else None
    )
    original = review(
        requester=requester,
        kind=ReviewKind.ACCESS if access else ReviewKind.STATEMENT,
        access=access,
        version=version,
    )
    assert review_from_row(review_to_row(original)) == original


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
def test_audit_hash_survives_a_json_round_trip(details: dict[str, Any]) -> None:
    """What is hashed is what reads back: details re-read from JSON hash to the same value."""
    fields = event_fields(entry(details=details), 1, GENESIS)
    reread = dict(fields, details=json.loads(json.dumps(fields["details"])))
    assert chain_hash(reread) == chain_hash(fields)


@given(
    st.dictionaries(st.text(max_size=8) | st.integers(0, 20).map(str), json_values, max_size=5),
    names,
    st.none() | names,
)
def test_the_stored_text_is_what_is_hashed(
    details: dict[str, Any], target: str, connection: str | None
) -> None:
    """The details text written to the row reads back as the details, and the hash computed
    around it (without encoding them again) is the chain hash of the event."""
    fields, text = _event(entry(details=details, target=target, connection=connection), 7, "a" * 64)
    assert json.loads(text) == fields["details"]
    assert _spliced_hash(fields, text) == chain_hash(fields)


# What the statement log builds: str keys, JSON values, rows as tuples; integers of any size.
plain_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), inner)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), plain_values, max_size=5))
def test_plain_details_are_encoded_once_to_the_same_text(details: dict[str, Any]) -> None:
    """Details marked plain skip the read-back before hashing, and come to the same stored text,
    the same details read back and the same hash as the general path."""
    general, general_text = _event(entry(details=details), 3, "b" * 64)
    plain, plain_text = _event(entry(details=PlainDetails(details)), 3, "b" * 64)
    written, written_text = _event(
        entry(details=PlainDetails(details)), 3, "b" * 64, read_back=False
    )
    assert plain_text == written_text == general_text
    assert plain["details"] == general["details"] and written["details"] is None
    assert _spliced_hash(written, written_text) == chain_hash(general)


@pytest.mark.parametrize(
    "details", [{"bad": float("nan")}, {"text": "caf\udce9"}, {"rows": [(1, {2})]}]
)
def test_plain_details_that_are_not_json_are_a_store_error(details: dict[str, Any]) -> None:
    """NaN, a lone surrogate or a value JSON has no form for: refused, marked plain or not."""
    with pytest.raises(StoreError, match="not JSON"):
        _event(entry(details=PlainDetails(details)), 1, GENESIS, read_back=False)


def test_details_keep_integers_beyond_64_bits() -> None:
    """A 70-bit integer reads back exact, not as the float a fast JSON reader would make it."""
    fields, text = _event(entry(details={"n": 2**70, "m": -(2**70), "s": "9" * 30}), 1, GENESIS)
    assert fields["details"] == {"n": 2**70, "m": -(2**70), "s": "9" * 30}
    assert text == '{"m":-1180591620717411303424,"n":1180591620717411303424,"s":"' + "9" * 30 + '"}'


@pytest.mark.parametrize("details", [{"bad": float("nan")}, {"text": "caf\udce9"}])
def test_details_that_cannot_be_stored_are_a_store_error(details: dict[str, Any]) -> None:
    """NaN and lone surrogates (text decoded with surrogateescape) are refused clearly."""
    with pytest.raises(StoreError, match="not JSON"):
        event_fields(entry(details=details), 1, GENESIS)


def test_details_of_other_types_are_stored_as_their_text() -> None:
    """Keys become strings, values JSON cannot hold their str()."""
    details: dict[Any, Any] = {1: {2}, "at": EPOCH}
    stored = event_fields(entry(details=details), 1, GENESIS)["details"]
    assert stored == {"1": "{2}", "at": str(EPOCH)}


def test_hash_covers_seq_and_prev_hash() -> None:
    """Changing only seq or only prev_hash changes the hash."""
    fields = event_fields(entry(at=datetime(2026, 1, 1, tzinfo=UTC)), 1, GENESIS)
    assert chain_hash(dict(fields, seq=2)) != chain_hash(fields)
    assert chain_hash(dict(fields, prev_hash="f" * 64)) != chain_hash(fields)
