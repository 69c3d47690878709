"""``verify_webhook``: accepts exactly the emulator's (and Lava's) signature over the raw body."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from proxy.billing import verify_webhook
from proxy.emulator.webhooks import envelope, sign
from proxy.secret import Secret

SECRET = "whsec_0123456789abcdef"


def test_a_delivery_signed_by_the_emulator_verifies() -> None:
    body = envelope("customer.created", {"customer": {"customer_id": "con_1"}})
    signature = sign(body, SECRET)
    assert signature == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verify_webhook(body, signature, SECRET)
    assert verify_webhook(body, f"  {signature.upper()} ", Secret(SECRET))


def test_anything_else_does_not() -> None:
    body = b'{"event":"customer.deleted","data":{}}'
    signature = sign(body, SECRET)
    assert not verify_webhook(body + b" ", signature, SECRET)          # re-serialised body
    assert not verify_webhook(body, signature, SECRET + "x")            # other secret
    assert not verify_webhook(body, signature[:-1], SECRET)             # truncated
    assert not verify_webhook(body, "", SECRET)
    assert not verify_webhook(body, signature, "")
    assert not verify_webhook(body, "é" * 64, SECRET)                   # not even ASCII
    assert not verify_webhook(body, f"sha256={signature}", SECRET)      # no prefix in Lava's


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=64), st.binary(min_size=1,
                                                                              max_size=64))
def test_round_trip_and_tamper(body: bytes, secret: str, noise: bytes) -> None:
    signature = sign(body, secret)
    assert verify_webhook(body, signature, secret)
    assert not verify_webhook(body + noise, signature, secret)
