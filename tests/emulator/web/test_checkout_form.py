"""``checkout_form``, pure: the per-session token, the bounded form reader, and the fields."""

from __future__ import annotations

import pytest

from proxy.emulator.web.checkout_form import (
    MAX_FORM_BYTES,
    Contact,
    FormTooLarge,
    check,
    csrf_token,
    parse_form,
    token_ok,
)

KEY = b"k" * 32
SECRET = "css_test_" + "a" * 32


def test_the_token_belongs_to_one_session_and_one_key() -> None:
    token = csrf_token(KEY, SECRET)
    assert token_ok(KEY, SECRET, token)
    assert not token_ok(KEY, "css_test_" + "b" * 32, token)
    assert not token_ok(b"j" * 32, SECRET, token)
    assert not token_ok(KEY, SECRET, None)
    assert not token_ok(KEY, SECRET, token[:-1])
    assert not token_ok(KEY, SECRET, "")


def test_parse_form_takes_the_first_value_and_is_bounded() -> None:
    assert parse_form(b"phone=%2B1+555&phone=2&email=") == {"phone": "+1 555", "email": ""}
    with pytest.raises(FormTooLarge):
        parse_form(b"x" * (MAX_FORM_BYTES + 1))
    with pytest.raises(FormTooLarge):
        parse_form("&".join(f"f{i}=1" for i in range(21)).encode())
    with pytest.raises(FormTooLarge):
        parse_form(b"name=\xff")
    with pytest.raises(FormTooLarge):
        parse_form(b"name=%ff")


@pytest.mark.parametrize(("raw", "stored"), [
    ("+15555550123", "+15555550123"), ("+1 (555) 555-0123", "+15555550123"),
    ("  44 20 7946 0958 ", "442079460958"), ("+1.555.555.0123", "+15555550123"),
])
def test_phones_are_kept_as_digits(raw: str, stored: str) -> None:
    got = check({"phone": raw}, new_customer=True)
    assert got.contact == Contact(stored, None, None, None)


@pytest.mark.parametrize("raw", ["12345", "+1 555 ABC 0123", "+" + "1" * 16, "++15555550123",
                                 "555-0123-x", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667"])
def test_bad_phones_are_refused(raw: str) -> None:
    got = check({"phone": raw}, new_customer=True)
    assert got.contact is None
    assert "country code" in got.errors["phone"]


def test_a_returning_customer_gives_nothing_and_a_new_one_a_phone() -> None:
    assert check({}, new_customer=False).contact == Contact(None, None, None, None)
    assert "phone" in check({"email": "a@b.co"}, new_customer=True).errors


def test_every_bad_field_is_reported_at_once_with_the_values_kept() -> None:
    got = check({"phone": "", "email": "a@b", "first_name": "x" * 81, "last_name": "\u202eevil"},
                new_customer=True)
    assert set(got.errors) == {"phone", "email", "first_name", "last_name"}
    assert got.values["first_name"] == "x" * 81
    assert got.contact is None


def test_optional_fields_are_none_when_empty() -> None:
    got = check({"phone": "+15555550123", "email": " ada@example.com ", "first_name": "Ada",
                 "last_name": ""}, new_customer=True)
    assert got.contact == Contact("+15555550123", "ada@example.com", "Ada", None)
