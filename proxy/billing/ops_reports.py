"""Operations on usage and plumbing: ``/usage``, ``/requests``, ``/webhooks``, ``/secret_keys``.
Each function only builds a ``Call``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from .core import Call
from .errors import LavaValidationError
from .models_usage import Deleted, Page, RequestRecord, SecretKey, UsageReport, Webhook
from .ops_catalog import Amount, amount, body_of, paging, seg

MetadataFilters = Sequence[tuple[str, str]] | Mapping[str, str]


def _when(value: datetime | str | None, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        # The offset decides Lava's day boundaries; a naive datetime would silently mean UTC.
        raise LavaValidationError(f"{field} needs a timezone (its offset sets the day buckets)",
                                  status=0, code="invalid_arguments")
    return value.isoformat()


def _filters(filters: MetadataFilters | None) -> str | None:
    if filters is None:
        return None
    pairs = list(filters.items()) if isinstance(filters, Mapping) else list(filters)
    return json.dumps([[k, v] for k, v in pairs], separators=(",", ":"))


def get_usage(*, start: datetime | str, end: datetime | str | None = None,
              customer_id: str | None = None, meter_id: str | None = None,
              metadata_filters: MetadataFilters | None = None) -> Call[UsageReport]:
    """Daily aggregates from ``start`` (its UTC offset sets the day boundaries) to ``end``."""
    params = paging(None, None, start=_when(start, "start"), end=_when(end, "end"),
                    customer_id=customer_id, meter_id=meter_id,
                    metadata_filters=_filters(metadata_filters))
    return Call("GET", "/usage", UsageReport.from_json, params)


def list_requests(*, customer_id: str | None = None, meter_id: str | None = None,
                  metadata_filters: MetadataFilters | None = None, limit: int | None = None,
                  cursor: str | None = None) -> Call[Page[RequestRecord]]:
    return Call("GET", "/requests", Page.parser(RequestRecord.from_json),
                paging(limit, cursor, customer_id=customer_id, meter_id=meter_id,
                       metadata_filters=_filters(metadata_filters)))


def get_request(request_id: str) -> Call[RequestRecord]:
    return Call("GET", f"/requests/{seg(request_id)}", RequestRecord.from_json)


def report_request(*, request_id: str, customer_id: str | None = None,
                   meter_slug: str | None = None, metadata: Mapping[str, str] | None = None,
                   input_tokens: int | None = None, output_tokens: int | None = None,
                   input_characters: int | None = None, output_characters: int | None = None,
                   input_seconds: Amount | None = None,
                   output_seconds: Amount | None = None) -> Call[RequestRecord]:
    """Post-request reporting: usage measured outside the gateway, billed without enforcement."""
    body = body_of(request_id=request_id, customer_id=customer_id, meter_slug=meter_slug,
                   metadata=None if metadata is None else dict(metadata),
                   input_tokens=input_tokens, output_tokens=output_tokens,
                   input_characters=input_characters, output_characters=output_characters,
                   input_seconds=None if input_seconds is None else amount(input_seconds),
                   output_seconds=None if output_seconds is None else amount(output_seconds))
    return Call("POST", "/requests", RequestRecord.from_json, body=body)


# -- webhooks and secret keys -----------------------------------------------------------

def create_webhook(*, url: str, name: str | None = None) -> Call[Webhook]:
    """The answer carries ``webhook_secret``, the only time it is shown."""
    return Call("POST", "/webhooks", Webhook.from_json, body=body_of(url=url, name=name))


def list_webhooks(*, limit: int | None = None,
                  cursor: str | None = None) -> Call[Page[Webhook]]:
    return Call("GET", "/webhooks", Page.parser(Webhook.from_json), paging(limit, cursor))


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", f"/webhooks/{seg(webhook_id)}", Webhook.from_json)


def update_webhook(webhook_id: str, *, url: str | None = None,
                   name: str | None = None) -> Call[Webhook]:
    return Call("PATCH", f"/webhooks/{seg(webhook_id)}", Webhook.from_json,
                body=body_of(url=url, name=name))


def delete_webhook(webhook_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/webhooks/{seg(webhook_id)}", Deleted.from_json)


def create_secret_key(*, name: str | None = None) -> Call[SecretKey]:
    """The answer carries the full ``secret_key``, the only time it is shown."""
    return Call("POST", "/secret_keys", SecretKey.from_json, body=body_of(name=name))


def list_secret_keys(*, limit: int | None = None,
                     cursor: str | None = None) -> Call[Page[SecretKey]]:
    return Call("GET", "/secret_keys", Page.parser(SecretKey.from_json), paging(limit, cursor))


def delete_secret_key(secret_key_id: str) -> Call[Deleted]:
    return Call("DELETE", f"/secret_keys/{seg(secret_key_id)}", Deleted.from_json)
