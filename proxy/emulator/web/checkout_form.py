"""The hosted checkout's form, pure: the per-session CSRF token, and the submitted fields read
into a contact or a message per field. What Lava's page asks a new customer for is a phone (it
verifies it by SMS); email and names are optional."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

#: The form's fields, in the order they are shown.
FIELDS = ("phone", "email", "first_name", "last_name")
#: Bounds: a form body is a few hundred bytes; nothing longer is a person typing.
MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 20
MAX_NAME = 80
MAX_EMAIL = 254

_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_PHONE = re.compile(r"\+?[0-9]{7,15}\Z")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+\Z")


def csrf_token(key: bytes, secret: str) -> str:
    """The form token of one checkout session: an HMAC of its secret under the page's own key,
    so it needs no storage and is worthless for any other session or gateway."""
    return hmac.new(key, b"lava-checkout-form\x00" + secret.encode(), hashlib.sha256).hexdigest()


def token_ok(key: bytes, secret: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(key, secret), sent)


class FormTooLarge(ValueError):
    """The body is over ``MAX_FORM_BYTES`` or has too many fields."""


def parse_form(body: bytes) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` → the first value of each field (bounded)."""
    if len(body) > MAX_FORM_BYTES:
        raise FormTooLarge(f"the form is over {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError as exc:
        raise FormTooLarge("the form is not UTF-8") from exc
    except ValueError as exc:  # max_num_fields exceeded
        raise FormTooLarge(str(exc)) from exc
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str | None
    email: str | None
    first_name: str | None
    last_name: str | None


@dataclass(frozen=True, slots=True)
class Checked:
    """The form read: ``contact`` when every field is fine, else ``errors`` by field name.
    ``values`` are what was typed (trimmed), to show again beside the messages."""

    values: Mapping[str, str]
    errors: Mapping[str, str] = field(default_factory=dict)
    contact: Contact | None = None


def _printable(text: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text)


def _phone(raw: str, needed: bool) -> tuple[str | None, str | None]:
    if not raw:
        return None, ("Enter your phone number: the checkout verifies it." if needed else None)
    digits = _PHONE_SEPARATORS.sub("", raw)
    if not _PHONE.match(digits):
        return None, "Enter a phone number with its country code, such as +1 555 555 0123."
    return digits, None


def _email(raw: str) -> tuple[str | None, str | None]:
    if not raw:
        return None, None
    if len(raw) > MAX_EMAIL or not _EMAIL.match(raw) or not _printable(raw):
        return None, "Enter an email address such as name@example.com, or leave it empty."
    return raw, None


def _name(raw: str, label: str) -> tuple[str | None, str | None]:
    if not raw:
        return None, None
    if len(raw) > MAX_NAME or not _printable(raw):
        return None, f"{label} must be at most {MAX_NAME} printable characters."
    return raw, None


def check(form: Mapping[str, str], *, new_customer: bool) -> Checked:
    """Read the contact fields; a returning customer (the session names one) gives none."""
    values = {f: form.get(f, "").strip() for f in FIELDS} if new_customer else {}
    if not new_customer:
        return Checked(values, contact=Contact(None, None, None, None))
    phone, e_phone = _phone(values["phone"], needed=True)
    email, e_email = _email(values["email"])
    first, e_first = _name(values["first_name"], "First name")
    last, e_last = _name(values["last_name"], "Last name")
    errors = {k: v for k, v in (("phone", e_phone), ("email", e_email), ("first_name", e_first),
                                ("last_name", e_last)) if v is not None}
    if errors:
        return Checked(values, errors)
    return Checked(values, contact=Contact(phone, email, first, last))
