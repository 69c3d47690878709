"""Typed, frozen settings: what the sidecar runs with, parsed once (see ``configload``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

from ..bounds.config import ClientBounds
from ..mcp.config import McpSettings
from ..prices.config import PricingSettings
from ..quotas.config import QuotaSettings
from ..secret import Secret
from ..tracing.config import TracingSettings
from ..usage.base import Family

DEFAULT_GATEWAY_URL = "https://api.lava.so"
DEFAULT_CONFIG_PATH = "config/sidecar.yaml"

TierType = Literal["tokens_1m", "characters_1m", "minutes", "requests"]
Unattributed = Literal["reject", "merchant"]
UsageLogPolicy = Literal["serve", "reject"]


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


#: The proxy listens on loopback: only processes in the pod can spend money through it.
DEFAULT_LISTEN: Final = Listen("127.0.0.1", 8787)
#: Admin binds all interfaces: Prometheus scrapes it on the pod IP.
DEFAULT_ADMIN_LISTEN: Final = Listen("0.0.0.0", 9464)  # noqa: S104


@dataclass(frozen=True, slots=True)
class Provider:
    """One upstream API root. A request to ``prefix + rest`` goes to ``base_url + rest``."""

    name: str
    base_url: str  # scheme://host[:port]/path, no trailing slash, e.g. https://api.openai.com/v1
    prefix: str  # inbound path prefix, e.g. /openai/v1
    family: Family
    #: Add ``stream_options.include_usage`` to chat/completions streams (and strip the extra chunk).
    inject_stream_usage: bool = False
    #: Bring-your-own-key: sent to Lava inside the forward token, never as a header.
    provider_key: Secret | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyBinding:
    """A local API key (the app's ``OPENAI_API_KEY``/``x-api-key`` value) bound to a customer."""

    key: Secret
    customer_id: str | None
    meter_slug: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    customer_header: str = "x-lava-customer-id"
    meter_header: str = "x-lava-meter"
    metadata_header: str = "x-lava-metadata"
    default_customer: str | None = None
    default_meter: str | None = None
    #: No customer found: ``reject`` (401) or bill the ``merchant`` (token without customer).
    unattributed: Unattributed = "reject"
    api_keys: tuple[ApiKeyBinding, ...] = ()
    #: Customer tracked but not charged (Lava's ``disable_billing``); plan entitlement still applies.
    disable_billing: bool = False


@dataclass(frozen=True, slots=True)
class Gateway:
    url: str = DEFAULT_GATEWAY_URL
    connect_timeout: float = 10.0
    #: From request sent to response headers; reasoning models can think for minutes.
    first_byte_timeout: float = 600.0
    #: Longest silence between two body chunks; a stream that keeps sending is never cut.
    idle_timeout: float = 300.0
    max_connections: int = 512
    #: Retries of connection *establishment* only; a request that may have reached Lava is never replayed.
    connect_retries: int = 2
    #: An idle pooled connection is closed after this long: below common server keep-alive timeouts
    #: (nginx 75 s, AWS ALB 60 s), so the server rarely closes one just as a request goes out on it.
    keepalive_expiry: float = 15.0
    #: ``lean``: the sidecar's own keep-alive client on httptools (fast); ``aiohttp``: ClientSession.
    client: Literal["lean", "aiohttp"] = "lean"


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 32 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_sse_line_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Metrics:
    #: Distinct ``customer`` label values before new ones count as ``__overflow__``.
    max_customers: int = 1000
    max_models: int = 200
    customer_label: bool = True


@dataclass(frozen=True, slots=True)
class UsageLog:
    #: File path, ``-`` for stdout, or ``None`` to keep no log.
    path: str | None = "-"
    fsync_interval: float = 1.0
    max_bytes: int = 100 * 1024 * 1024
    backups: int = 5
    #: When the log cannot be written: keep ``serve``-ing (counted, logged) or ``reject`` with 503.
    on_error: UsageLogPolicy = "serve"
    #: Rebuild ``/usage`` totals from the retained log at start, in the background (file logs only).
    replay_on_start: bool = True
    #: Rotation never deletes a file holding lines younger than this (seconds): it waits, and the
    #: current file grows past ``max_bytes`` meanwhile. 0: rotate at ``max_bytes`` regardless.
    min_retention: float = 86_400.0


@dataclass(frozen=True, slots=True)
class UsageTotals:
    #: Customers ``/usage`` keeps apart; past it the least recently seen one is folded into the
    #: ``evicted`` aggregate (per meter), so every total stays exact. Tier positions share it.
    max_customers: int = 100_000


@dataclass(frozen=True, slots=True)
class Tier:
    start: Decimal
    rate: Decimal


@dataclass(frozen=True, slots=True)
class MeterPrice:
    """A local mirror of a Lava meter's pricing, used only to estimate charges live."""

    slug: str
    tier_type: TierType
    tiers: tuple[Tier, ...]
    rate_type: Literal["fixed"] = "fixed"


@dataclass(frozen=True, slots=True)
class Shutdown:
    #: Longest wait for in-flight requests and streams after SIGTERM.
    grace: float = 30.0
    #: Readiness reports 503 this long before the listener closes, so endpoints update first.
    drain_delay: float = 2.0


@dataclass(frozen=True, slots=True)
class Logging:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"
    access_log: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    secret_key: Secret
    listen: Listen = DEFAULT_LISTEN
    admin_listen: Listen = DEFAULT_ADMIN_LISTEN
    gateway: Gateway = field(default_factory=Gateway)
    identity: Identity = field(default_factory=Identity)
    providers: tuple[Provider, ...] = ()
    default_provider: str = "openai"
    static_metadata: tuple[tuple[str, str], ...] = ()
    allow_metadata_header: bool = True
    limits: Limits = field(default_factory=Limits)
    #: limits.header_timeout_seconds, body_idle_timeout_seconds, max_buffered_body_bytes.
    bounds: ClientBounds = field(default_factory=ClientBounds)
    metrics: Metrics = field(default_factory=Metrics)
    usage_log: UsageLog = field(default_factory=UsageLog)
    usage_totals: UsageTotals = field(default_factory=UsageTotals)
    estimate_missing_usage: bool = False
    meters: tuple[MeterPrice, ...] = ()
    shutdown: Shutdown = field(default_factory=Shutdown)
    logging: Logging = field(default_factory=Logging)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)  # default: no limits
    mcp: McpSettings = field(default_factory=McpSettings)  # lava-sidecar mcp
    tracing: TracingSettings = field(default_factory=TracingSettings)  # default: off
    pricing: PricingSettings = field(default_factory=PricingSettings)  # prices listed from Lava

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)
