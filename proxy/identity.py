"""Who pays for a request: request headers + settings → ``Billing`` and metadata, or a clear refusal.

Precedence: the customer header, then a local API key bound in config, then the configured default
customer; with none of these the request is refused unless config bills the merchant. The meter
comes from the meter header, else the key binding, else the default meter. A request carrying
``X-Lava-Client: mcp`` (sent only by ``lava-sidecar mcp``, consumed like the other control
headers) is labelled ``via="mcp"``: the same customer rules, a different label in the usage log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from multidict import MultiMapping

from .errors import IdentityError, MetadataInvalid
from .http1 import Headers
from .secret import Secret
from .tokens import Billing

if TYPE_CHECKING:  # the config loader imports this module's rules: no runtime cycle
    from .config import Identity

CUSTOMER_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
METER_SLUG_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
_METADATA_KEY_RE: Final = re.compile(r"[A-Za-z0-9_]{1,255}")
MAX_METADATA_PAIRS: Final = 100
#: A control header naming the sidecar's own client; its only recognised value is ``mcp``.
CLIENT_HEADER: Final = "x-lava-client"
_CLIENT_RAW: Final = CLIENT_HEADER.encode("ascii")
#: Identities remembered per resolver (``IdentityResolver.resolve``), and the longest header
#: values a remembered one may come from: past either, requests resolve the long way.
_MEMO_MAX: Final = 4096
_MEMO_VALUE_MAX: Final = 512
#: Optional whitespace around a field value (SP, HTAB; RFC 9110 §5.5) is not part of it: stripped on
#: both sides of every identity header (issue 24: the parser dropped it before a value, not after,
#: so "cus_1 " was a 400 and " cus_1" was cus_1). Anything else stays and is refused.
_OWS: Final = " \t"


@dataclass(frozen=True, slots=True)
class Resolved:
    """The identity of one request: who is billed, and how that was decided (a bounded label)."""

    billing: Billing
    via: str  # "header" | "api_key" | "default" | "merchant" | "mcp"


def validate_metadata_pairs(pairs: Mapping[object, object]) -> str | None:
    """Lava's metadata rules (lava-api.md 3.2); returns a sentence naming the first violation."""
    if len(pairs) > MAX_METADATA_PAIRS:
        return f"at most {MAX_METADATA_PAIRS} metadata pairs, got {len(pairs)}"
    for key, value in pairs.items():
        if not isinstance(key, str) or not _METADATA_KEY_RE.fullmatch(key):
            return (f"metadata key {str(key)[:40]!r} must be 1-255 ASCII letters, digits or "
                    "underscores")
        if not isinstance(value, str) or not 1 <= len(value) <= 255:
            return f"metadata value for {key!r} must be a string of 1-255 characters"
    return None


def merge_metadata(static: tuple[tuple[str, str], ...], header_value: str | None) -> str | None:
    """Static metadata plus the per-request JSON header → the ``x-lava-metadata`` value, or None.

    Per-request keys override static ones. A malformed header is a 400, never silently dropped.
    """
    if header_value is None:
        if not static:
            return None
        merged: dict[object, object] = dict(static)
    else:
        try:
            doc = json.loads(header_value)
        except ValueError as exc:
            raise MetadataInvalid("X-Lava-Metadata must be a JSON object, e.g. "
                                  '{"user_id":"u_123"}; it did not parse') from exc
        if not isinstance(doc, dict):
            raise MetadataInvalid("X-Lava-Metadata must be a JSON object of string values")
        merged = dict(static)
        merged.update(doc)
    if (msg := validate_metadata_pairs(merged)) is not None:
        raise MetadataInvalid(f"X-Lava-Metadata breaks Lava's rules: {msg}")
    # ensure_ascii keeps the outbound header value plain ASCII whatever the values hold.
    return json.dumps(merged, separators=(",", ":"), ensure_ascii=True)


def _check(value: str, pattern: re.Pattern[str], what: str, header: str) -> str:
    if not pattern.fullmatch(value):
        shown = value[:64].encode("ascii", "backslashreplace").decode()
        raise IdentityError(
            f"{header} {shown!r} is not a valid {what}: use 1-128 characters from "
            "A-Z a-z 0-9 . _ - (and : for customer ids)",
            code=f"{what.replace(' ', '_')}_invalid", status=400)
    return value


def _one(headers: Mapping[str, str], name: str, what: str, header: str) -> str | None:
    """The header's value; sent twice with different values it names two payers, and billing
    either one would be a guess (an app bug, or a proxy in between adding its own)."""
    if not isinstance(headers, MultiMapping):  # a plain mapping holds one value per name
        value = headers.get(name)
        return None if value is None else value.strip(_OWS)
    values = [v.strip(_OWS) for v in headers.getall(name, ())]
    if len(values) > 1 and any(v != values[0] for v in values[1:]):
        raise IdentityError(f"{header} was sent {len(values)} times with different values; send one "
                            f"{what} per request", code=f"{what.replace(' ', '_')}_invalid", status=400)
    return values[0] if values else None


def local_api_key(headers: Mapping[str, str]) -> str | None:
    """The credential the app sent (its dummy OPENAI_API_KEY / x-api-key / GEMINI_API_KEY), if any."""
    auth = headers.get("authorization")
    if auth is not None and (auth := auth.strip(_OWS))[:7].lower() == "bearer ":
        return auth[7:].strip()
    key = headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")
    return None if key is None else key.strip(_OWS)


class IdentityResolver:
    """Precomputes the key-binding table once; ``resolve`` is then a few dict lookups."""

    __slots__ = ("_by_key", "_cfg", "_customer_raw", "_memo", "_meter_raw")

    def __init__(self, cfg: Identity) -> None:
        self._cfg = cfg
        self._by_key: dict[str, tuple[str | None, str | None]] = {
            b.key.reveal(): (b.customer_id, b.meter_slug) for b in cfg.api_keys
        }
        self._customer_raw = cfg.customer_header.lower().encode("latin-1", "replace")
        self._meter_raw = cfg.meter_header.lower().encode("latin-1", "replace")
        #: (customer, meter, client header bytes, provider key) → the identity they resolved to.
        self._memo: dict[tuple[bytes, bytes | None, bytes | None, Secret | None], Resolved] = {}

    def resolve(self, headers: Mapping[str, str], provider_key: Secret | None = None) -> Resolved:
        """Who pays for a request with these headers. An app sends the same customer and meter
        on many requests: with the customer header present (once), the answer depends only on
        the raw bytes of the customer, meter and client headers and on ``provider_key``, so it
        is remembered by exactly those (3.8 us of reading and checking -> one lookup). A refusal
        is never remembered; repeated headers, or a request without the customer header (API
        key bindings, defaults), take the long way every time."""
        if type(headers) is Headers and not headers.repeated:
            customer = headers.value(self._customer_raw)
            if customer is not None:
                meter = headers.value(self._meter_raw)
                client = headers.value(_CLIENT_RAW)
                key = (customer, meter, client, provider_key)
                hit = self._memo.get(key)
                if hit is not None:
                    return hit
                resolved = self._resolve(headers, provider_key)
                if len(customer) + len(meter or b"") + len(client or b"") <= _MEMO_VALUE_MAX:
                    if len(self._memo) >= _MEMO_MAX:
                        self._memo.clear()
                    self._memo[key] = resolved
                return resolved
        return self._resolve(headers, provider_key)

    def _resolve(self, headers: Mapping[str, str], provider_key: Secret | None) -> Resolved:
        cfg = self._cfg
        customer = _one(headers, cfg.customer_header, "customer id", "X-Lava-Customer-Id")
        meter = _one(headers, cfg.meter_header, "meter slug", "X-Lava-Meter")
        via = "header"
        bound_meter: str | None = None
        if customer is None and self._by_key:
            key = local_api_key(headers)
            bound = self._by_key.get(key) if key is not None else None
            if bound is not None:
                customer, bound_meter = bound
                via = "api_key"
        if customer is None and cfg.default_customer is not None:
            customer, via = cfg.default_customer, "default"
        if customer is not None:
            _check(customer, CUSTOMER_ID_RE, "customer id", "X-Lava-Customer-Id")
        if meter is not None:
            _check(meter, METER_SLUG_RE, "meter slug", "X-Lava-Meter")
        meter = meter or bound_meter or cfg.default_meter
        if customer is None:
            if cfg.unattributed != "merchant":
                raise IdentityError(
                    "No customer for this request: send the X-Lava-Customer-Id header with the "
                    "Lava customer id, map your API key to a customer in the sidecar config, or set "
                    "identity.default_customer (identity.unattributed: merchant bills you instead).",
                    code="customer_missing", status=401)
            via = "merchant"
        elif (headers.get(CLIENT_HEADER) or "").strip(_OWS) == "mcp":
            via = "mcp"
        if customer is not None and meter is None:
            raise IdentityError(
                "No meter for this customer: send the X-Lava-Meter header with the meter slug or "
                "set identity.default_meter in the sidecar config.", code="meter_missing", status=400)
        return Resolved(Billing(customer, meter, provider_key, cfg.disable_billing), via)
