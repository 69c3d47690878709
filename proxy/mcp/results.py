"""The MCP tools' results, typed: the transport shell turns each into the tool's output JSON Schema
(what an agent host shows a model), and ``tools`` returns them."""

from __future__ import annotations

from typing import Any

# Pydantic (which the SDK builds output schemas with) reads TypedDicts from typing_extensions only
# on Python < 3.12; it comes with the ``mcp`` extra.
from typing_extensions import TypedDict

from ..billing import CheckoutSession, Customer, Meter, Plan, Subscription
from ..billing.models_usage import Page


class Usage(TypedDict):
    input_tokens: int | None
    output_tokens: int | None


class PromptResult(TypedDict):
    text: str
    model: str | None
    provider: str
    finish_reason: str | None
    usage: Usage
    customer: str | None
    lava_request_id: str | None


class CallResult(TypedDict):
    status: int
    content_type: str | None
    body: Any
    truncated: bool
    customer: str | None
    lava_request_id: str | None


class ProviderEntry(TypedDict, total=False):
    name: str
    family: str
    base_url: str
    sidecar_path: str
    default: bool
    models: list[str]
    models_error: str


class ProvidersResult(TypedDict):
    providers: list[ProviderEntry]
    default_provider: str


class UsageResult(TypedDict):
    customer: str | None
    meter: str | None
    start: str
    #: The sidecar's ``/usage`` document for the customer (requests, tokens, estimated charge).
    sidecar: dict[str, Any] | None
    #: Lava's ``GET /usage`` report for the same customer from ``start``, or ``{"error": …}``.
    lava: dict[str, Any]


class MeterResult(TypedDict):
    meter: Meter


class PlanResult(TypedDict):
    plan: Plan


class CheckoutResult(TypedDict):
    #: ``checkout_session_token`` is for the customer's browser (Lava's hosted checkout).
    checkout_session: CheckoutSession


class CustomersResult(TypedDict):
    #: ``data``, ``has_more`` and ``next_cursor`` (pass it back as ``cursor``).
    customers: Page[Customer]


class SubscriptionResult(TypedDict):
    #: The active subscription with its remaining credits; ``None`` when the customer has none.
    subscription: Subscription | None


class LoginResult(TypedDict):
    gateway: str
    key_valid: bool
    key_type: str
    key_last4: str
    customer: str | None
    meter: str | None
    providers: list[str]
    sidecar: str
    billing_admin: bool
    problem: str | None
