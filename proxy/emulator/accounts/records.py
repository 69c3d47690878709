"""The local Lava's stored records (meters, plans, customers, subscriptions, requests, …) and the
errors its accounts raise. Values only: behaviour lives in the package's other modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import ClassVar, Final, Literal

from ...errors import SidecarError

RateType = Literal["fixed", "percentage"]
TierType = Literal["tokens_1m", "characters_1m", "minutes", "requests"]
Interval = Literal["day", "week", "month", "year"]
Rollover = Literal["full", "none"]
CheckoutMode = Literal["subscription", "credit_bundle"]

RATE_TYPES: tuple[RateType, ...] = ("fixed", "percentage")
TIER_TYPES: tuple[TierType, ...] = ("tokens_1m", "characters_1m", "minutes", "requests")
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "year")
ROLLOVERS: tuple[Rollover, ...] = ("full", "none")
CHECKOUT_MODES: tuple[CheckoutMode, ...] = ("subscription", "credit_bundle")


class AccountsError(SidecarError):
    """A management API or gateway refusal, rendered as ``{"error": {"message", "code"}}``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code  # type: ignore[misc]


class Invalid(AccountsError):
    """The request body or query is malformed or breaks a rule (400)."""


class Unauthorized(AccountsError):
    status = 401
    code = "unauthorized"


class NotFound(AccountsError):
    status = 404
    code = "not_found"


@dataclass(frozen=True, slots=True)
class Tier:
    #: First unit this tier prices: tokens/characters (``*_1m``), minutes, or requests.
    start: Decimal
    #: Per 1M tokens/characters, per minute, per request; a percentage for percentage meters.
    rate: Decimal


@dataclass(frozen=True, slots=True)
class Meter:
    meter_id: str
    meter_slug: str
    name: str
    rate_type: RateType
    tier_type: TierType
    tiers: tuple[Tier, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class MeterSlug:
    """Index entry: the gateway finds a token's meter by slug on every request."""

    meter_slug: str
    meter_id: str


@dataclass(frozen=True, slots=True)
class CreditBundle:
    credit_bundle_id: str
    plan_id: str
    name: str
    cost: Decimal
    credit_amount: Decimal
    created_at: float


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: str
    name: str
    period_amount: Decimal
    included_credit: Decimal
    billing_interval: Interval
    rollover_type: Rollover
    bundle_rollover_type: Rollover
    default_auto_top_up_bundle_id: str | None
    meter_ids: tuple[str, ...]
    created_at: float
    #: The merchant's built-in Free plan: customers sit on it until checkout; never deleted.
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    reference_id: str | None
    phone: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    metadata: tuple[tuple[str, str], ...] | None
    created_at: float
    subscription_id: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    customer_id: str
    plan_id: str
    status: Literal["active", "cancelled"]
    auto_top_up_bundle_id: str | None
    started_at: float
    cancelled_at: float | None
    cycle_start_at: float
    cycle_end_at: float
    cycle_remaining: Decimal
    bundle_remaining: Decimal


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    checkout_session_id: str
    secret: str
    checkout_mode: CheckoutMode
    origin_url: str
    plan_id: str | None
    customer_id: str | None
    credit_bundle_id: str | None
    created_at: float
    completed_at: float | None = None


@dataclass(frozen=True, slots=True)
class CheckoutSecret:
    """Index entry, global across merchants: the hosted checkout page knows only the secret in
    its URL (``/embed/checkout/{secret}``) and finds its merchant and session here."""

    secret: str
    merchant_id: str
    checkout_session_id: str


@dataclass(frozen=True, slots=True)
class BreakdownLine:
    """One tier's share of a charge (``charge.breakdown[]``)."""

    tier_start: Decimal
    tier_rate: Decimal
    tier_type: TierType
    units: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class RequestRow:
    request_id: str
    status: str
    customer_id: str | None
    meter_id: str | None
    provider: str
    provider_key_type: str
    model: str | None
    endpoint: str
    response_id: str | None
    input_tokens: int
    output_tokens: int
    input_characters: int
    output_characters: int
    input_seconds: Decimal
    output_seconds: Decimal
    input_cost: Decimal
    output_cost: Decimal
    charge: Decimal
    rate_type: RateType | None
    breakdown: tuple[BreakdownLine, ...]
    metadata: tuple[tuple[str, str], ...]
    timestamp: float
    created_at: float

    @property
    def cost(self) -> Decimal:
        return self.input_cost + self.output_cost

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Webhook:
    webhook_id: str
    name: str
    url: str
    #: Kept to sign deliveries; shown once at creation, never again.
    secret: str
    created_at: float


@dataclass(frozen=True, slots=True)
class SecretKeyRow:
    secret_key_id: str
    merchant_id: str
    name: str
    #: sha256 of the key: the key itself is never stored.
    key_hash: str
    hint: str
    created_at: float


@dataclass(frozen=True, slots=True)
class TierUsage:
    """Units a customer has consumed on one meter this billing cycle: where graduated tiers
    continue from. A new cycle (``cycle_start_at`` differs) starts again at tier one."""

    customer_id: str
    meter_id: str
    units: Decimal
    cycle_start_at: float


class Unset(Enum):
    """A field left out of a PATCH body (``None`` means "set to null")."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET
