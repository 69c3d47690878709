"""REST resources for what was used: ``GET /usage`` (daily aggregates), ``/requests`` (records,
and ``POST /requests`` for usage measured outside the gateway, lava-api.md 3.7)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ..accounts import (
    Counts,
    Invalid,
    Usage,
    daily,
    filtered,
    meter_by_slug,
    need,
    page,
    request_filter,
    views,
)
from .context import Ctx, Route
from .input import decimal, integer, limit, metadata, metadata_filters, need_text, text
from .input import timestamp as query_time


def usage(ctx: Ctx) -> object:
    start = query_time(ctx.query, "start")
    if start is None:
        raise Invalid("start is required (ISO 8601; its offset sets the day boundaries)",
                      code="missing_parameter")
    end = query_time(ctx.query, "end") or datetime.fromtimestamp(ctx.scope.now(), UTC)
    # Any window is answered (Lava documents no limit): an empty one, end before start
    # included, has no buckets; the answer is bounded by the records kept (``daily``).
    keep = request_filter(customer_id=ctx.query.get("customer_id"),
                          meter_id=ctx.query.get("meter_id"),
                          metadata=metadata_filters(ctx.query),
                          start=_seconds(start), end=_seconds(end))
    return daily(filtered(ctx.scope.requests.scan(), keep), start, end)


def _seconds(when: datetime) -> float:
    """Unix seconds; the far ends of ``datetime`` (year 1 at +14:00) saturate, never fail."""
    try:
        return when.timestamp()
    except (OverflowError, ValueError):
        return float("-inf") if when.year < 2000 else float("inf")


def list_requests(ctx: Ctx) -> object:
    cursor = ctx.query.get("cursor")
    if cursor is not None and ctx.scope.requests.get(cursor) is None:
        raise Invalid("cursor does not name an item of this list", code="invalid_cursor")
    keep = request_filter(customer_id=ctx.query.get("customer_id"),
                          meter_id=ctx.query.get("meter_id"),
                          metadata=metadata_filters(ctx.query))
    return page(filtered(ctx.scope.requests.scan(before=cursor), keep), limit(ctx.query),
                lambda r: r.request_id, views.request)


def get_request(ctx: Ctx) -> object:
    rid = ctx.param("id")
    return views.request(need(ctx.scope.requests.get(rid), "request", rid))


def report_request(ctx: Ctx) -> object:
    """Post-request reporting: billed like a forwarded request, with no admission check."""
    b = ctx.body
    request_id = need_text(b, "request_id", max_len=128)
    if ctx.scope.requests.get(request_id) is not None:
        raise Invalid(f"request {request_id!r} was already reported", code="duplicate_request")
    customer_id = text(b, "customer_id")
    if customer_id is not None:
        need(ctx.scope.customers.get(customer_id), "customer", customer_id)
    meter_slug = text(b, "meter_slug")
    if meter_slug is not None:
        need(meter_by_slug(ctx.scope, meter_slug), "meter", meter_slug)

    def count(field: str) -> int:
        return integer(b, field) or 0

    def seconds(field: str) -> Decimal:
        value = decimal(b, field) or Decimal(0)
        if value < 0:
            raise Invalid(f"{field} must be >= 0", code="invalid_parameter")
        return value

    counts = Counts(input_tokens=count("input_tokens"), output_tokens=count("output_tokens"),
                    input_characters=count("input_characters"),
                    output_characters=count("output_characters"),
                    input_seconds=seconds("input_seconds"),
                    output_seconds=seconds("output_seconds"))
    now = ctx.scope.now()
    row = ctx.accounts.report(
        ctx.scope.merchant_id,
        Usage(request_id=request_id, provider=text(b, "provider") or "unknown",
              endpoint=text(b, "endpoint", max_len=2048) or "", model=text(b, "model"),
              response_id=None, counts=counts, status="completed",
              metadata=tuple((metadata(b) or {}).items()), timestamp=now,
              provider_key_type="unmanaged"),
        customer_id=customer_id, meter_slug=meter_slug)
    return views.request(row)


ROUTES: tuple[Route, ...] = (
    ("GET", "/usage", usage),
    ("GET", "/requests", list_requests), ("POST", "/requests", report_request),
    ("GET", "/requests/{id}", get_request),
)
