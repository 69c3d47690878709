"""The ``quotas:`` section: typed, frozen settings and the reader that validates them.

Every problem is reported with its dotted key, like the rest of the loader. ``null`` (or leaving a
key out of ``default``) means unlimited; a customer entry overrides only the keys it names, so
``cus_x: {usd_per_day: null}`` lifts that one limit and keeps the default's others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final, Literal, cast
from urllib.parse import urlsplit

from ..secret import Secret

if TYPE_CHECKING:
    # Only a type here: ``proxy.config`` imports this module for ``Settings.quotas``, so a runtime
    # import at the top would be a cycle (see ``_redis_url``).
    from ..config.fields import Reader

Backend = Literal["memory", "redis"]
OnBackendError = Literal["allow", "reject"]

LIMIT_KEYS: Final = ("requests_per_minute", "tokens_per_minute", "concurrent_requests", "usd_per_day")
#: Same alphabets as ``identity``: a quota key must be a value a request can carry.
_CUSTOMER_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
_METER_CHARS: Final = _CUSTOMER_CHARS - {":"}
_MAX_ID: Final = 128
#: A day's spend limit above this is a typo; it also keeps micro-dollar sums exact in Lua (14 digits).
_MAX_USD: Final = Decimal("1000000")


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """One set of limits; ``None`` is unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None
    usd_per_day: Decimal | None = None

    def any(self) -> bool:
        return any(getattr(self, k) is not None for k in LIMIT_KEYS)


@dataclass(frozen=True, slots=True)
class RedisQuota:
    url: Secret | None = None  # redis:// or rediss://; a secret (it may carry a password)
    key_prefix: str = "lava-sidecar:"
    #: How long Redis has to answer a command once it is sent (queueing in the sidecar excluded).
    timeout_ms: int = 50
    #: The URL names one node of a Redis Cluster (redis-py's convention: a client choice, not a
    #: URL scheme); slots are read from it.
    cluster: bool = False


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    backend: Backend = "memory"
    redis: RedisQuota = field(default_factory=RedisQuota)
    on_backend_error: OnBackendError = "allow"
    #: Output tokens reserved at admission for a request that names no max_tokens (or
    #: max_output_tokens / max_completion_tokens); replaced by the real count at completion.
    default_output_tokens: int = 1024
    default: QuotaLimits = field(default_factory=QuotaLimits)
    #: Per customer, already merged over ``default`` (the keys a customer names win).
    customers: tuple[tuple[str, QuotaLimits], ...] = ()
    #: Per customer on a meter, in addition to the customer's own limits (no inheritance).
    meters: tuple[tuple[str, QuotaLimits], ...] = ()

    def enabled(self) -> bool:
        return self.default.any() or any(q.any() for _, q in self.customers + self.meters)


def _count(v: int) -> str | None:
    return None if v >= 0 else "must be 0 or more (0 refuses every request), or null for unlimited"


def _usd(r: Reader, name: str, default: Decimal | None) -> Decimal | None:
    raw = r.raw(name)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        r.problem(name, f'must be a decimal string like "25.00" (or null), got {type(raw).__name__}')
        return default
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        r.problem(name, f'must be a decimal string like "25.00", got {raw!r}')
        return default
    if not value.is_finite() or value < 0 or value > _MAX_USD:
        r.problem(name, f"must be between 0 and {_MAX_USD}, got {raw!r}")
        return default
    return value


def _limits(r: Reader, base: QuotaLimits) -> QuotaLimits:
    """Read one limits mapping; a key left out keeps ``base``'s value, an explicit null lifts it."""

    def count(name: str, prior: int | None) -> int | None:
        if name not in r.data:
            return prior
        if r.data[name] is None:
            r.raw(name)
            return None
        return r.get(name, int, prior if prior is not None else 0, _count)

    usd = base.usd_per_day if "usd_per_day" not in r.data else _usd(r, "usd_per_day", None)
    limits = QuotaLimits(
        requests_per_minute=count("requests_per_minute", base.requests_per_minute),
        tokens_per_minute=count("tokens_per_minute", base.tokens_per_minute),
        concurrent_requests=count("concurrent_requests", base.concurrent_requests),
        usd_per_day=usd,
    )
    r.finish()
    return limits


def _table(r: Reader, name: str, base: QuotaLimits | None, chars: frozenset[str],
           what: str) -> tuple[tuple[str, QuotaLimits], ...]:
    section = r.section(name)
    out: list[tuple[str, QuotaLimits]] = []
    alphabet = "A-Z a-z 0-9 . _ : -" if ":" in chars else "A-Z a-z 0-9 . _ -"
    for key in section.data:
        sub = section.section(str(key))
        if not isinstance(key, str) or not 0 < len(key) <= _MAX_ID or not set(key) <= chars:
            sub.problem("", f"{what} are 1-{_MAX_ID} of {alphabet}")
            continue
        out.append((key, _limits(sub, base or QuotaLimits())))
    section.finish()
    return tuple(out)


def _redis_url(r: Reader, env: Mapping[str, str], required: bool) -> Secret | None:
    from ..config.fields import secret_ref  # by now proxy.config is fully imported

    url = secret_ref(r, "url", env, required=required)
    if url is None:
        if required and "url" not in r.data:
            r.problem("url", "required with backend: redis (e.g. {env: REDIS_URL})")
        return None
    parts = urlsplit(url.reveal())
    # The URL is a secret (it may carry a password): the message names the scheme only.
    if parts.scheme not in ("redis", "rediss", "unix"):
        r.problem("url", f"must be a redis://, rediss:// or unix:// URL, got scheme {parts.scheme!r}")
    elif parts.scheme != "unix" and not parts.hostname:
        r.problem("url", "must name a host (redis://HOST:PORT/DB)")
    return url


def read_quotas(r: Reader, env: Mapping[str, str]) -> QuotaSettings:
    """``r`` is the ``quotas`` section; problems go to its list. Returns defaults where a value is bad."""
    d = QuotaSettings()
    backend = cast(Backend, r.choice("backend", ("memory", "redis"), d.backend))
    rs, dr = r.section("redis"), d.redis
    redis = RedisQuota(
        url=_redis_url(rs, env, required=backend == "redis"),
        key_prefix=rs.get("key_prefix", str, dr.key_prefix, _prefix_problem),
        timeout_ms=rs.get("timeout_ms", int, dr.timeout_ms, _timeout_problem),
        cluster=rs.get("cluster", bool, dr.cluster),
    )
    rs.finish()
    policy = cast(OnBackendError, r.choice("on_backend_error", ("allow", "reject"), d.on_backend_error))
    output = r.get("default_output_tokens", int, d.default_output_tokens, _output_problem)
    default = _limits(r.section("default"), QuotaLimits())
    settings = QuotaSettings(
        backend=backend,
        redis=redis,
        on_backend_error=policy,
        default_output_tokens=output,
        default=default,
        customers=_table(r, "customers", default, _CUSTOMER_CHARS, "customer ids"),
        meters=_table(r, "meters", None, _METER_CHARS, "meter slugs"),
    )
    r.finish()
    return settings


def _prefix_problem(v: str) -> str | None:
    if len(v) > 64:
        return "must be at most 64 characters"
    if "{" in v or "}" in v:
        return "must not contain { or } (they choose Redis Cluster slots)"
    return None


def _output_problem(v: int) -> str | None:
    return None if 0 <= v <= 10_000_000 else "must be between 0 and 10000000"


def _timeout_problem(v: int) -> str | None:
    if v <= 0:
        return "must be greater than 0"
    return None if v <= 10_000 else "must be at most 10000 (a quota check that waits longer stalls requests)"


__all__ = ["LIMIT_KEYS", "Backend", "OnBackendError", "QuotaLimits", "QuotaSettings", "RedisQuota",
           "read_quotas"]
