"""Checking a Lava webhook delivery: ``X-Webhook-Signature`` is the lowercase hex HMAC-SHA256 of
the raw request body under the webhook's secret (lava-api.md 5); compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from ..secret import Secret

SIGNATURE_HEADER = "X-Webhook-Signature"


def verify_webhook(body: bytes, signature: str, secret: str | Secret) -> bool:
    """True when ``signature`` is the body's HMAC under ``secret``. Verify the raw bytes as they
    arrived: re-serialised JSON would not match. Tolerates surrounding space and upper case."""
    key = secret.reveal() if isinstance(secret, Secret) else secret
    if not key or not signature:
        return False
    expected = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    given = signature.strip().lower()
    # compare_digest wants ASCII str: a non-ASCII header value cannot be a valid signature.
    if not given.isascii():
        return False
    return hmac.compare_digest(expected, given)
