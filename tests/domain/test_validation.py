"""Input rules for deal data: the Checker collects every problem, with full field paths."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.domain.validation import MAX_AMOUNT, Checker, Problem

# --- helpers -------------------------------------------------------------------------------------


def fields(checker: Checker) -> list[tuple[str, ...]]:
    return [p.field for p in checker.problems]


def only_problem(checker: Checker) -> Problem:
    assert len(checker.problems) == 1, checker.problems
    return checker.problems[0]


# --- text ----------------------------------------------------------------------------------------


def test_text_is_stripped() -> None:
    c = Checker()
    assert c.text("name", "  Contoso Ltd \n", max_len=200) == "Contoso Ltd"
    assert c.problems == []


@pytest.mark.parametrize("blank", [None, "", "   ", "\n\t "])
def test_blank_text_becomes_none_and_is_fine_when_optional(blank: str | None) -> None:
    c = Checker()
    assert c.text("name", blank, max_len=200) is None
    assert c.problems == []


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_required_text_is_refused(blank: str | None) -> None:
    c = Checker()
    assert c.text("name", blank, max_len=200, required=True) is None
    assert only_problem(c) == Problem(("name",), "is required")


def test_text_at_max_length_is_accepted_one_more_is_refused() -> None:
    c = Checker()
    assert c.text("name", "x" * 10, max_len=10) == "x" * 10
    assert c.problems == []

    c.text("name", "x" * 11, max_len=10)
    assert only_problem(c) == Problem(("name",), "must be at most 10 characters")


def test_max_length_counts_after_stripping() -> None:
    c = Checker()
    assert c.text("name", "  " + "x" * 10 + "  ", max_len=10) == "x" * 10
    assert c.problems == []


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x0b", "\x0c", "\x1f"])
def test_ascii_control_characters_are_refused(control: str) -> None:
    c = Checker()
    c.text("notes", f"ab{control}cd", max_len=200)
    assert only_problem(c) == Problem(("notes",), "must not contain control characters")


@pytest.mark.parametrize("control", ["\x7f", "\x85", "\x9b"], ids=["DEL", "NEL", "CSI"])
def test_del_and_c1_control_characters_are_refused(control: str) -> None:
    # Unicode category Cc is U+0000-U+001F *and* U+007F-U+009F.
    c = Checker()
    c.text("notes", f"ab{control}cd", max_len=200)
    assert only_problem(c) == Problem(("notes",), "must not contain control characters")


def test_newlines_and_tabs_inside_text_are_allowed() -> None:
    c = Checker()
    assert c.text("notes", "line 1\r\nline 2\tend", max_len=200) == "line 1\r\nline 2\tend"
    assert c.problems == []


def test_too_long_text_with_control_characters_reports_both() -> None:
    c = Checker()
    c.text("notes", "\x00" * 5, max_len=3)
    assert [p.message for p in c.problems] == [
        "must be at most 3 characters",
        "must not contain control characters",
    ]


# --- money ---------------------------------------------------------------------------------------


def test_valid_money_is_returned_with_the_currency_code() -> None:
    c = Checker()
    assert c.money("value", Decimal("1234.50"), "EUR") == (Decimal("1234.50"), "EUR")
    assert c.problems == []


@pytest.mark.parametrize("currency", ["usd", " Usd ", "eur"])
def test_currency_code_is_normalised_to_upper_case(currency: str) -> None:
    c = Checker()
    result = c.money("value", Decimal("10"), currency)
    assert result == (Decimal("10"), currency.strip().upper())
    assert c.problems == []


@pytest.mark.parametrize("currency", ["XXX", "us", "", "EURO", "US$"])
def test_unknown_currency_is_refused(currency: str) -> None:
    c = Checker()
    assert c.money("value", Decimal("10"), currency) is None
    assert only_problem(c) == Problem(
        ("value", "currency"), f"'{currency}' is not an ISO 4217 currency code"
    )


def test_missing_money_is_none_when_optional() -> None:
    c = Checker()
    assert c.money("value", None, None) is None
    assert c.problems == []


def test_missing_money_is_refused_when_required() -> None:
    c = Checker()
    assert c.money("value", None, None, required=True) is None
    assert only_problem(c) == Problem(("value",), "is required")


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize(
    ("amount", "currency", "missing"),
    [(None, "USD", "amount"), (Decimal("1"), None, "currency")],
)
def test_half_entered_money_names_the_missing_part(
    amount: Decimal | None, currency: str | None, missing: str, required: bool
) -> None:
    c = Checker()
    assert c.money("value", amount, currency, required=required) is None
    assert only_problem(c) == Problem(("value", missing), "is required")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("0", "USD"), (str(MAX_AMOUNT - Decimal("0.01")), "USD"), ("15000", "jpy"), ("1.234", "KWD")],
    ids=["zero", "just-below-the-limit", "whole-yen-in-lower-case", "three-decimals-in-kwd"],
)
def test_accepted_amount(amount: str, currency: str) -> None:
    c = Checker()
    assert c.money("value", Decimal(amount), currency) == (Decimal(amount), currency.upper())
    assert c.problems == []


# The problem with the amount: (the currency, amounts refused in it).
REFUSED_AMOUNTS: dict[str, tuple[str, list[Decimal | str]]] = {
    "must not be negative": ("USD", ["-0.01", "-1000"]),
    "must be less than 1,000,000,000,000": ("USD", [MAX_AMOUNT, MAX_AMOUNT * 10, "1E+20"]),
    "JPY takes at most 0 decimal places": ("JPY", ["100.5", "100.0", "0.01"]),
    "must be a number": ("USD", ["NaN", "sNaN", "Infinity", "-Infinity"]),
}


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        pytest.param(Decimal(amount), currency, problem, id=f"{currency}-{amount}")
        for problem, (currency, amounts) in REFUSED_AMOUNTS.items()
        for amount in amounts
    ],
)
def test_refused_amount(amount: Decimal, currency: str, problem: str) -> None:
    c = Checker()
    assert c.money("value", amount, currency) is None
    assert only_problem(c) == Problem(("value", "amount"), problem)


def test_usd_takes_two_decimal_places_not_three() -> None:
    c = Checker()
    assert c.money("value", Decimal("9.99"), "USD") == (Decimal("9.99"), "USD")
    assert c.problems == []

    assert c.money("value", Decimal("9.999"), "USD") is None
    assert only_problem(c) == Problem(("value", "amount"), "USD takes at most 2 decimal places")


def test_money_collects_currency_and_amount_problems_together() -> None:
    c = Checker()
    assert c.money("value", Decimal("-1.001"), "us") is None
    assert c.problems == [
        Problem(("value", "currency"), "'us' is not an ISO 4217 currency code"),
        Problem(("value", "amount"), "must not be negative"),
    ]


def test_negative_amount_with_too_many_decimals_reports_both() -> None:
    c = Checker()
    assert c.money("value", Decimal("-1.001"), "USD") is None
    assert [p.message for p in c.problems] == [
        "must not be negative",
        "USD takes at most 2 decimal places",
    ]


# --- day -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [date(2000, 1, 1), date(2025, 6, 30), date(2100, 12, 31)])
def test_day_within_range_is_accepted(value: date) -> None:
    c = Checker()
    assert c.day("closeDate", value) == value
    assert c.problems == []


@pytest.mark.parametrize("value", [date(1999, 12, 31), date(2101, 1, 1), date(1, 1, 1)])
def test_day_out_of_range_is_refused(value: date) -> None:
    c = Checker()
    assert c.day("closeDate", value) is None
    assert only_problem(c) == Problem(("closeDate",), "must be between 2000-01-01 and 2100-12-31")


def test_missing_day_is_none_when_optional_and_refused_when_required() -> None:
    c = Checker()
    assert c.day("closeDate", None) is None
    assert c.problems == []

    assert c.day("closeDate", None, required=True) is None
    assert only_problem(c) == Problem(("closeDate",), "is required")


# --- email ---------------------------------------------------------------------------------------


def test_valid_email_is_stripped_and_normalised() -> None:
    c = Checker()
    assert c.email("email", "  Jane.Doe@Contoso.COM ") == "Jane.Doe@contoso.com"
    assert c.problems == []


@pytest.mark.parametrize(
    "value", ["jane", "jane@", "@contoso.com", "jane@contoso", "jane doe@contoso.com", "a@@b.com"]
)
def test_invalid_email_is_refused(value: str) -> None:
    c = Checker()
    assert c.email("email", value) is None
    problem = only_problem(c)
    assert problem.field == ("email",)
    assert problem.message.startswith("is not a valid e-mail address: ")


def test_missing_email_is_none_when_optional_and_refused_when_required() -> None:
    c = Checker()
    assert c.email("email", "  ") is None
    assert c.problems == []

    assert c.email("email", None, required=True) is None
    assert only_problem(c) == Problem(("email",), "is required")


def test_too_long_email_is_refused() -> None:
    c = Checker()
    value = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com"
    assert len(value) > 254
    assert c.email("email", value) is None
    assert Problem(("email",), "must be at most 254 characters") in c.problems


# --- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["+1 (425) 555-0100", "0049 30 1234567", "425.555.0100", "12345", " +44 20 7946 0958 "]
)
def test_valid_phone_is_accepted_and_stripped(value: str) -> None:
    c = Checker()
    assert c.phone("phone", value) == value.strip()
    assert c.problems == []


@pytest.mark.parametrize(
    "value", ["1234", "call me", "+1 425 555 0100 ext. 7", "++12345", "555-CALL"]
)
def test_invalid_phone_is_refused(value: str) -> None:
    c = Checker()
    assert c.phone("phone", value) is None
    assert Problem(("phone",), "is not a valid phone number") in c.problems


@pytest.mark.parametrize("value", ["-----", "(( ))", "....."])
def test_phone_without_any_digit_is_refused(value: str) -> None:
    c = Checker()
    assert c.phone("phone", value) is None
    assert Problem(("phone",), "is not a valid phone number") in c.problems


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_phone_is_none(value: str | None) -> None:
    c = Checker()
    assert c.phone("phone", value) is None
    assert c.problems == []


# --- reason_notes --------------------------------------------------------------------------------


def test_other_reason_requires_notes() -> None:
    c = Checker()
    assert c.reason_notes("OTHER", "   ") is None
    assert only_problem(c) == Problem(("notes",), "notes are required when the reason is OTHER")


def test_other_reason_with_notes_is_accepted() -> None:
    c = Checker()
    assert c.reason_notes("OTHER", " Customer went silent ") == "Customer went silent"
    assert c.problems == []


@pytest.mark.parametrize("notes", [None, "More context"])
def test_other_reasons_do_not_require_notes(notes: str | None) -> None:
    c = Checker()
    assert c.reason_notes("NO_CAPACITY", notes) == notes
    assert c.problems == []


def test_reason_notes_are_length_checked() -> None:
    c = Checker()
    c.reason_notes("PRICE", "x" * 4001)
    assert only_problem(c) == Problem(("notes",), "must be at most 4000 characters")


# --- prefixes and collection ---------------------------------------------------------------------


def test_field_paths_carry_the_checker_prefix() -> None:
    c = Checker("input", "deal")
    c.text("name", None, max_len=10, required=True)
    c.text(("contact", "name"), "x" * 11, max_len=10)
    c.money("value", Decimal("-1"), "USD")
    c.day("closeDate", date(1990, 1, 1))
    c.email(("contact", "email"), "nope")
    c.phone("phone", "nope")
    c.reason_notes("OTHER", None)

    assert fields(c) == [
        ("input", "deal", "name"),
        ("input", "deal", "contact", "name"),
        ("input", "deal", "value", "amount"),
        ("input", "deal", "closeDate"),
        ("input", "deal", "contact", "email"),
        ("input", "deal", "phone"),
        ("input", "deal", "notes"),
    ]


def test_fail_accepts_a_field_name_or_a_path() -> None:
    c = Checker("input")
    c.fail("name", "bad")
    c.fail(("contacts", "0", "email"), "worse")
    assert c.problems == [
        Problem(("input", "name"), "bad"),
        Problem(("input", "contacts", "0", "email"), "worse"),
    ]


def test_every_problem_is_collected_not_only_the_first() -> None:
    c = Checker()
    c.text("name", "", max_len=200, required=True)
    c.money("value", Decimal("1.5"), "XXX")
    c.money("budget", Decimal("NaN"), "USD")
    c.day("closeDate", date(2200, 1, 1))
    c.email("email", "not-an-email")
    c.phone("phone", "12")
    c.reason_notes("OTHER", "")

    assert fields(c) == [
        ("name",),
        ("value", "currency"),
        ("budget", "amount"),
        ("closeDate",),
        ("email",),
        ("phone",),
        ("notes",),
    ]


def test_a_fresh_checker_has_no_problems() -> None:
    assert Checker("input").problems == []
