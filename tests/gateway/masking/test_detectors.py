"""Detectors in free text: what each finds, what it leaves alone, and how it masks."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.masking.checks import is_card_number, ssn_valid
from gateway.masking.detectors import (
    AWS_ACCESS_KEY,
    CREDIT_CARD,
    DETECTORS,
    EMAIL,
    IBAN,
    JWT,
    PHONE,
    SSN,
    mask_text,
    mask_value,
    name_tokens,
)
from tests.gateway.masking.factories import (
    JWT_TOKEN,
    TEST_CARDS,
    VALID_IBANS,
    card_numbers,
    emails,
    filler,
    ibans,
    jwt_with_header,
    luhn_complete,
    ssns,
)

ALL = tuple(DETECTORS.values())


def masked(text: str, *, context: frozenset[str] = frozenset()) -> str:
    """``text`` through every detector."""
    return mask_text(text, ALL, context=context)[0]


@pytest.mark.parametrize(("brand", "number"), TEST_CARDS)
def test_each_brand_is_masked_keeping_last_four(brand: str, number: str) -> None:
    """Every published test card is masked to stars plus its last 4 digits."""
    assert masked(f"paid with {number}.") == f"paid with {'*' * (len(number) - 4)}{number[-4:]}."


def test_card_mask_matches_the_documented_form() -> None:
    """4012888888881881 becomes ************1881."""
    assert masked("4012888888881881") == "************1881"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("4111-1111-1111-1111", "****-****-****-1111"),
        ("3782 822463 10005", "**** ****** *0005"),  # Amex 4-6-5
        ("year 2024 4111 1111 1111 1111", "year 2024 **** **** **** 1111"),
    ],
)
def test_grouped_card_numbers_keep_their_separators(text: str, expected: str) -> None:
    """Space or dash grouped cards are found, a neighbouring number is left alone."""
    assert masked(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1234567812345670",  # Luhn-valid, no brand
        "0000000000000000",
        "4111111111111112",  # Luhn fails
        "41111111111111110000",  # 20 digits
        "x4111111111111111",  # part of an identifier
        "0.4111111111111111",  # a decimal fraction
        "4111111111111111.5",
        "id 12345678901234",
    ],
)
def test_card_lookalikes_are_not_masked(text: str) -> None:
    """Wrong prefix, failed Luhn, wrong length or glued to other characters: untouched."""
    assert CREDIT_CARD.find(text) == []


def test_ssn_is_masked_keeping_last_four() -> None:
    """AAA-GG-SSSS becomes ***-**-SSSS."""
    assert masked("SSN: 123-45-6789") == "SSN: ***-**-6789"


@pytest.mark.parametrize(
    "text",
    ["000-12-3456", "666-12-3456", "900-12-3456", "987-65-4321", "123-00-4567", "123-45-0000"],
)
def test_invalid_ssn_areas_groups_serials_are_not_masked(text: str) -> None:
    """SSA never issues these, so they are not SSNs."""
    assert SSN.find(text) == []


def test_bare_nine_digits_are_an_ssn_only_with_column_context() -> None:
    """123456789 is masked in a column named as SSN, not elsewhere."""
    assert SSN.find("123456789") == []
    assert masked("123456789", context=frozenset({"ssn"})) == "*****6789"
    assert SSN.find("900123456", context=True) == []


def test_ssn_context_comes_from_the_column_name() -> None:
    """Column names such as customer_ssn or socialSecurityNumber enable the bare form."""
    assert SSN.in_context("customer_ssn")
    assert SSN.in_context("customerSSN")
    assert SSN.in_context("social_security_number")
    assert not SSN.in_context("classname")
    assert not SSN.in_context("order_id")
    assert name_tokens("customerSSN") == frozenset({"customer", "ssn"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail user@example.com now", "mail u***@example.com now"),
        ("john.doe+tag@mail.example.co.uk.", "j***@mail.example.co.uk."),
        ("<a@example.org>", "<***@example.org>"),
    ],
)
def test_email_keeps_the_domain(text: str, expected: str) -> None:
    """The local part is masked, the domain kept."""
    assert masked(text) == expected


@pytest.mark.parametrize("text", ["user@localhost", "a@b", "@example.com", "mail me @ home.org"])
def test_email_lookalikes_are_not_masked(text: str) -> None:
    """Without a dotted domain and a local part there is no e-mail address."""
    assert EMAIL.find(text) == []


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_iban_keeps_country_and_last_four(iban: str) -> None:
    """A valid IBAN keeps its country code and last 4 characters."""
    out = masked(f"to {iban} please")
    assert out == f"to {iban[:2]}{'*' * (len(iban) - 6)}{iban[-4:]} please"


def test_iban_in_paper_format_is_masked() -> None:
    """Spaces every 4 characters are kept; a following word is not swallowed."""
    assert masked("GB82 WEST 1234 5698 7654 32 EUR") == "GB** **** **** **** **54 32 EUR"


@pytest.mark.parametrize(
    "text", ["GB82WEST12345698765433", "DE8937040044053201300", "XX82WEST12345698765432"]
)
def test_invalid_ibans_are_not_masked(text: str) -> None:
    """Wrong checksum, wrong length, unknown country: untouched."""
    assert IBAN.find(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1 415 555 2671", "+* *** *** 2671"),
        ("+14155552671", "+*******2671"),
        ("+44 (0)20 7946 0958", "+** (*)** **** 0958"),
        ("call (415) 555-2671", "call (***) ***-2671"),
        ("415-555-2671", "***-***-2671"),
        ("415.555.2671", "***.***.2671"),
        ("1-800-555-0199", "*-***-***-0199"),
        ("020 7946 0958", "*** **** 0958"),
        ("01 23 45 67 89", "** ** ** 67 89"),
    ],
)
def test_phone_formats_are_masked(text: str, expected: str) -> None:
    """E.164 and common national formats keep their layout and last 4 digits."""
    assert masked(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12345678",
        "1234567890",
        "4155552671",
        "2023-12-25",
        "2023-12-25 10:30:00",
        "25.12.2023",
        "3.14159265358979",
        "1,234,567.89",
        "192.168.100.200",
        "100 200 3000",
        "415 555 2671",
        "123-456-7890",
        "v1.2.3",
        "order 123456789",
        "+5 points",
        "+1234567.89",
        "1700000000",
        "123e4567-e89b-12d3-a456-426614174000",
        "01-02-2023",
    ],
)
def test_ordinary_numbers_are_not_phones(text: str) -> None:
    """Integers, dates, times, decimals, IPs, versions and ids are left alone."""
    assert PHONE.find(text) == []


def test_bare_phone_digits_need_column_context() -> None:
    """A phone column's bare digits are masked; the same digits elsewhere are not."""
    assert masked("4155552671", context=frozenset({"phone"})) == "******2671"
    assert PHONE.in_context("mobile_number")
    assert not PHONE.in_context("amount")


def test_aws_access_keys_are_fully_masked() -> None:
    """AKIA/ASIA keys keep only their prefix."""
    assert masked("key=AKIAIOSFODNN7EXAMPLE;") == "key=AKIA************;"
    assert masked("ASIAY34FZKBOKMUTVV7A") == "ASIA************"
    assert AWS_ACCESS_KEY.find("AKIAIOSFODNN7EXAMPL") == []  # 15 after the prefix
    assert AWS_ACCESS_KEY.find("XAKIAIOSFODNN7EXAMPLE") == []


def test_jwts_are_fully_masked() -> None:
    """A token whose header has "alg" becomes [masked jwt]."""
    assert masked(f"Authorization: Bearer {JWT_TOKEN}") == "Authorization: Bearer [masked jwt]"


def test_jwt_lookalikes_are_not_masked() -> None:
    """Dotted base64 without an "alg" header is not a JWT."""
    assert JWT.find(jwt_with_header({"typ": "JWT"})) == []
    assert JWT.find("eyes.are.blue") == []
    assert JWT.find("www.example.com") == []


def test_overlapping_findings_keep_the_longer_one() -> None:
    """An e-mail whose local part is a card number is masked once, as an e-mail."""
    out, counts = mask_text("4111111111111111@example.com", ALL)
    assert out == "4***@example.com"
    assert counts == {"email": 1}


def test_mask_text_counts_per_detector() -> None:
    """Counts name each detector with its number of hits."""
    _, counts = mask_text("a@example.com b@example.com 123-45-6789", ALL)
    assert counts == {"email": 2, "ssn": 1}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("123-45-6789", "***-**-6789"),
        ("2023-01-31", "****-**-**"),  # under 9 digits: nothing kept
        ("jane@example.com", "j***@example.com"),
        ("GB82WEST12345698765432", "GB****************5432"),
        ("AKIAIOSFODNN7EXAMPLE", "AKIA************"),
        (JWT_TOKEN, "[masked jwt]"),
        ("Jane Doe", "********"),
        ("", ""),
    ],
)
def test_mask_value_for_column_rules(value: str, expected: str) -> None:
    """A whole value under a column rule gets the partial mask of what it is, else stars."""
    assert mask_value(value) == expected


@given(card=card_numbers(), before=filler, after=filler)
def test_generated_cards_are_always_masked(card: str, before: str, after: str) -> None:
    """Any valid card in text is masked and its full number never survives."""
    out = masked(before + card + after)
    assert card not in out
    assert out.endswith(card[-4:] + after)


@given(ssn=ssns(), before=filler, after=filler)
def test_generated_ssns_are_always_masked(ssn: str, before: str, after: str) -> None:
    """Any valid dashed SSN is masked; the full number never survives."""
    dashed = f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"
    out = masked(before + dashed + after)
    assert dashed not in out
    assert f"***-**-{ssn[5:]}" in out


@given(email=emails, before=filler, after=filler)
def test_generated_emails_are_always_masked(email: str, before: str, after: str) -> None:
    """The local part of an address never survives; the domain does."""
    local, _, domain = email.partition("@")
    out = masked(before + email + after)
    assert email not in out
    assert f"{local[0]}***@{domain}" in out


@given(iban=ibans(), before=filler, after=filler)
def test_generated_ibans_are_always_masked(iban: str, before: str, after: str) -> None:
    """A valid IBAN never survives."""
    assert iban not in masked(before + iban + after)


@given(st.text("0123456789", min_size=16, max_size=16))
def test_random_16_digits_are_masked_exactly_when_card_rules_say(digits: str) -> None:
    """16 random digits count as a card iff Luhn and a brand table accept them; never as
    anything else."""
    found = mask_text(digits, ALL)[1]
    assert found == ({"credit_card": 1} if is_card_number(digits) else {})


@given(st.text("0123456789", min_size=9, max_size=9))
def test_random_9_digits_are_never_flagged_without_context(digits: str) -> None:
    """Bare 9-digit ids are not SSNs, phones or cards outside an SSN/phone column."""
    assert mask_text(digits, ALL)[1] == {}


@given(st.text("0123456789", min_size=9, max_size=9))
def test_random_9_digits_in_an_ssn_column_follow_the_ssn_rules(digits: str) -> None:
    """In an SSN column, 9 digits are masked iff the area/group/serial rules accept them."""
    hits = mask_text(digits, (SSN,), context={"ssn"})[1]
    assert hits == ({"ssn": 1} if ssn_valid(digits) else {})


@given(st.text(max_size=200))
def test_masking_arbitrary_text_is_total(text: str) -> None:
    """Any text can be masked: no exception, and unmatched text is unchanged."""
    out, counts = mask_text(text, ALL)
    if not counts:
        assert out == text


@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000 + "@",
        "a@" * 50_000,
        "a@" + "b." * 50_000,
        "1 " * 100_000,
        "1-" * 100_000,
        "+1" * 100_000,
        "ey" * 100_000 + ".",
        "eyJ" + "A" * 100_000 + "." * 3,
        "AB12" + " 1" * 100_000,
        "4" * 200_000,
    ],
)
def test_scans_stay_linear_on_adversarial_input(text: str) -> None:
    """Pathological long values finish quickly (no catastrophic backtracking)."""
    start = time.process_time()
    mask_text(text, ALL, context=frozenset({"ssn", "phone"}))
    assert time.process_time() - start < 2.0


def test_luhn_helper_builds_valid_numbers() -> None:
    """The test factory's check digit is right (guards the property tests above)."""
    assert luhn_complete("411111111111111") == "4111111111111111"
