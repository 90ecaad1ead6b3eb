"""Arithmetic checks: Luhn, card brand tables, SSN ranges, IBAN mod-97, JWT headers."""

from __future__ import annotations

import pytest

from gateway.masking.checks import (
    card_brand,
    iban_valid,
    is_card_number,
    jwt_header_valid,
    luhn_valid,
    ssn_valid,
)
from tests.gateway.masking.factories import TEST_CARDS, VALID_IBANS, luhn_complete


@pytest.mark.parametrize(("brand", "number"), TEST_CARDS)
def test_published_test_cards_have_their_brand(brand: str, number: str) -> None:
    """Every processor test number passes Luhn and maps to its brand."""
    assert luhn_valid(number)
    assert card_brand(number) == brand
    assert is_card_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "1234567812345670",  # Luhn-valid, no brand starts with 1
        "0000000000000000",  # Luhn-valid (sum 0)
        "9999999999999995",  # Luhn-valid, prefix 9
        luhn_complete("700000000000000"),  # prefix 7
        luhn_complete("222000000000000"),  # one below Mastercard's 2221
        luhn_complete("272100000000000"),  # one above Mastercard's 2720
        luhn_complete("3400000000000"),  # Amex prefix, 14 digits instead of 15
        luhn_complete("41111111111111"),  # Visa prefix, 15 digits
        luhn_complete("3527000000000000"),  # below JCB's 3528
        luhn_complete("60120000000000"),  # 6012: not Discover
    ],
)
def test_luhn_valid_numbers_without_brand_are_not_cards(number: str) -> None:
    """A Luhn-valid string whose prefix/length fits no brand table is not a card."""
    assert luhn_valid(number)
    assert not is_card_number(number)


def test_mastercard_2_series_bounds_are_inclusive() -> None:
    """2221 and 2720 both start Mastercard numbers."""
    assert card_brand(luhn_complete("222100000000000")) == "mastercard"
    assert card_brand(luhn_complete("272099999999999")) == "mastercard"


def test_luhn_rejects_a_changed_digit() -> None:
    """Changing the check digit breaks Luhn."""
    assert not luhn_valid("4111111111111112")
    assert not is_card_number("4111111111111112")


def test_card_numbers_outside_13_to_19_digits_are_rejected() -> None:
    """Length bounds hold even for Luhn-valid, branded prefixes."""
    assert not is_card_number(luhn_complete("4" * 11))
    assert not is_card_number(luhn_complete("4" + "0" * 18))


@pytest.mark.parametrize("digits", ["123456789", "078051120", "001010001", "899999999"])
def test_valid_ssns(digits: str) -> None:
    """Areas 001-899 except 666, groups 01-99, serials 0001-9999 are valid."""
    assert ssn_valid(digits)


@pytest.mark.parametrize(
    "digits",
    ["000123456", "666123456", "900123456", "999123456", "123006789", "123450000", "12345678"],
)
def test_invalid_ssns(digits: str) -> None:
    """Area 000/666/9xx, group 00, serial 0000 and wrong lengths are not SSNs."""
    assert not ssn_valid(digits)


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_registry_ibans_are_valid(iban: str) -> None:
    """Registry examples pass the country length table and mod-97."""
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "GB82WEST12345698765433",  # wrong check
        "GB83WEST12345698765432",  # wrong check digits
        "DE8937040044053201300",  # one short for DE (22)
        "DE890370400440532013000",  # one long
        "XX82WEST12345698765432",  # no such country
        "gb82west12345698765432",  # lower case
        "NO93860111179470",  # NO is 15 long
    ],
)
def test_invalid_ibans(iban: str) -> None:
    """Length, country and checksum failures are rejected."""
    assert not iban_valid(iban)


def test_jwt_header_needs_json_object_with_alg() -> None:
    """The header segment must decode to a JSON object containing "alg"."""
    assert jwt_header_valid("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")
    assert not jwt_header_valid("eyJ0eXAiOiJKV1QifQ")  # {"typ":"JWT"}: no alg
    assert not jwt_header_valid("eyJhbGciOiJIUzI1NiIsInR5cCI6")  # truncated JSON
    assert not jwt_header_valid("e")
    assert not jwt_header_valid("")
    assert not jwt_header_valid("W1siYWxnIl1d")  # a JSON list
