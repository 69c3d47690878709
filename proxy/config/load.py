"""YAML + environment → validated ``Settings``; every problem collected and reported together.

Secrets are references (``{env: NAME}`` or ``{file: PATH}``), never values in the YAML.
Environment: ``LAVA_SECRET_KEY`` / ``LAVA_SECRET_KEY_FILE``, ``LAVA_GATEWAY_URL``,
``LAVA_SIDECAR_CONFIG`` (the file to read when none is given).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

from ..bounds.config import read_client_bounds
from ..errors import ConfigError, Problem
from ..identity import CUSTOMER_ID_RE, METER_SLUG_RE, validate_metadata_pairs
from ..mcp.config import read_mcp
from ..prices.bounds import tiers_problem
from ..prices.config import read_pricing
from ..quotas.config import read_quotas
from ..secret import NO_MERCHANT_KEY, Secret, SecretFileError, merchant_key_from_env
from ..tracing.config import read_tracing
from ..usage.base import Family
from . import settings as c
from .fields import (
    Reader,
    listen_field,
    non_negative,
    parse_listen,
    positive,
    secret_ref,
    shown,
    url_problem,
)
from .providers import BUILTIN_PROVIDERS, prefix_for
from .reading import load_yaml_file

__all__ = ["load_settings", "parse_listen"]
#: Problems listed at once; past this, one more says how many were left out.
MAX_PROBLEMS: Final = 50
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_PROVIDER_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _merchant_key(r: Reader, env: Mapping[str, str]) -> Secret:
    secret = secret_ref(r, "secret_key", env, required=True)
    if secret is None and "secret_key" not in r.data:
        try:  # the one reader every command shares (secret.py)
            secret = merchant_key_from_env(env)
        except SecretFileError as exc:
            r.problem("secret_key", str(exc))
        else:
            if secret is None:
                r.problem("secret_key", NO_MERCHANT_KEY)
    if secret is not None and not secret.reveal().startswith(("aks_live_", "aks_test_")):
        r.problem("secret_key", "does not look like a Lava merchant secret key (aks_live_… or aks_test_…)")
    return secret or Secret("")


def _providers(r: Reader, env: Mapping[str, str]) -> tuple[c.Provider, ...]:
    table: dict[str, c.Provider] = {
        name: c.Provider(name, b.base_url, prefix_for(name), b.family, b.inject_stream_usage)
        for name, b in BUILTIN_PROVIDERS.items()
    }
    section = r.section("providers")
    for name in section.data:
        p = section.section(str(name))
        if not _PROVIDER_NAME_RE.fullmatch(str(name)):
            p.problem("", "provider names are lowercase letters, digits, - and _")
            continue
        base = table.get(name)
        base_url = p.get("base_url", str, base.base_url if base else "", url_problem).rstrip("/")
        if not base_url:
            p.problem("base_url", "required for a provider that is not built in")
        prefix = p.get("prefix", str, base.prefix if base else prefix_for(name))
        if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", prefix):
            p.problem("prefix", f"must be a path like /{name}/v1, got {shown(prefix)}")
        family = p.choice("family", ("openai", "anthropic", "gemini"), base.family if base else "openai")
        inject = p.get("inject_stream_usage", bool, base.inject_stream_usage if base else False)
        key = secret_ref(p, "provider_key", env, required=True)
        p.finish()
        table[name] = c.Provider(name, base_url, prefix.rstrip("/"), cast(Family, family), inject, key)
    section.seen.update(section.data)
    section.finish()
    prefixes: dict[str, str] = {}
    for p_ in table.values():
        if p_.prefix in prefixes or p_.prefix == "/v1":
            r.problem(f"providers.{p_.name}.prefix",
                      f"{p_.prefix} is already used by {prefixes.get(p_.prefix, 'the default route')}")
        prefixes[p_.prefix] = p_.name
    return tuple(table.values())


def _identity(r: Reader, env: Mapping[str, str]) -> c.Identity:
    s = r.section("identity")

    def header(v: str) -> str | None:
        return None if _HEADER_NAME_RE.fullmatch(v) else "must be an HTTP header name"

    def customer(v: str) -> str | None:
        return None if CUSTOMER_ID_RE.fullmatch(v) else "must be 1-128 of A-Z a-z 0-9 . _ : -"

    def meter(v: str) -> str | None:
        return None if METER_SLUG_RE.fullmatch(v) else "must be 1-128 of A-Z a-z 0-9 . _ -"

    d = c.Identity()
    bindings: list[c.ApiKeyBinding] = []
    raw_keys = s.raw("api_keys") or []
    if not isinstance(raw_keys, list):
        s.problem("api_keys", "must be a list of {key, customer, meter}")
        raw_keys = []
    for i, item in enumerate(raw_keys):
        b = Reader(item, s.key(f"api_keys[{i}]"), r.problems)
        key = secret_ref(b, "key", env, required=True)
        cust = b.get("customer", str, "", customer) or None
        mtr = b.get("meter", str, "", meter) or None
        b.finish()
        if key is not None:
            bindings.append(c.ApiKeyBinding(key, cust, mtr))
    ident = c.Identity(
        customer_header=s.get("customer_header", str, d.customer_header, header).lower(),
        meter_header=s.get("meter_header", str, d.meter_header, header).lower(),
        metadata_header=s.get("metadata_header", str, d.metadata_header, header).lower(),
        default_customer=s.get("default_customer", str, "", customer) or None,
        default_meter=s.get("default_meter", str, "", meter) or None,
        unattributed=cast(c.Unattributed, s.choice("unattributed", ("reject", "merchant"), "reject")),
        api_keys=tuple(bindings),
        disable_billing=s.get("disable_billing", bool, False),
    )
    s.finish()
    if ident.default_customer and not ident.default_meter:
        s.problem("default_meter", "required with default_customer: Lava pairs a customer with a meter")
    return ident


def _retention(v: float) -> str | None:
    # Ten years: beyond it the setting means "never rotate", which 0 backups + a large max says.
    return None if 0 <= v <= 315_360_000 else "must be between 0 (no retention) and 315360000 seconds"


def _customers_cap(v: int) -> str | None:
    return None if 1 <= v <= 10_000_000 else "must be between 1 and 10000000"


def _meters(r: Reader) -> tuple[c.MeterPrice, ...]:
    raw = r.raw("meters") or []
    if not isinstance(raw, list):
        r.problem("meters", "must be a list of meter prices")
        return ()
    out: list[c.MeterPrice] = []
    for i, item in enumerate(raw):
        m = Reader(item, r.key(f"meters[{i}]"), r.problems)
        slug = m.get("slug", str, "")
        if not slug:
            m.problem("slug", "required")
        tier_type = m.choice("tier_type", ("tokens_1m", "characters_1m", "minutes", "requests"), "tokens_1m")
        m.choice("rate_type", ("fixed",), "fixed")
        tiers: list[c.Tier] = []
        for j, t in enumerate(m.raw("tiers") or []):
            tr = Reader(t, m.key(f"tiers[{j}]"), r.problems)
            try:
                tiers.append(c.Tier(Decimal(str(tr.raw("start"))), Decimal(str(tr.raw("rate")))))
            except InvalidOperation:
                tr.problem("", "start and rate must be decimal numbers (write rates as strings: \"3.00\")")
            tr.finish()
        # The catalog's bounds too (prices.bounds): a NaN, a rate over 10^6, 101 tiers.
        if (why := tiers_problem([(t.start, t.rate) for t in tiers])) is not None:
            m.problem("tiers", f"need at least one tier, the first starting at 0, starts ascending, "
                               f"every number within bounds: {why}")
        m.finish()
        out.append(c.MeterPrice(slug, cast(c.TierType, tier_type), tuple(tiers)))
    return tuple(out)


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                  *, overrides: Mapping[str, str] | None = None) -> c.Settings:
    """Read the config file (or none) and the environment; raise ``ConfigError`` listing every problem.

    ``overrides`` are the CLI's ``listen`` / ``admin_listen``, applied last.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    data: object = {}
    path = path or env.get("LAVA_SIDECAR_CONFIG") or None
    if path is not None:
        data = load_yaml_file(path)  # bounded: size, no aliases, depth (reading.py)
    r = Reader(data, "", problems)
    settings = _build(r, env)
    for key, value in (overrides or {}).items():
        try:
            listen = parse_listen(value)
        except ValueError as exc:
            problems.append(Problem(f"--{key.replace('_', '-')}", str(exc)))
            continue
        if key == "listen":
            settings = replace(settings, listen=listen)
        elif key == "admin_listen":
            settings = replace(settings, admin_listen=listen)
    if problems:
        problems = in_file_order(problems, data)
        if len(problems) > MAX_PROBLEMS:  # every problem, up to a screenful: the rest counted
            problems[MAX_PROBLEMS:] = [Problem(str(path or "<config>"), (
                f"{len(problems) - MAX_PROBLEMS:,} more problem(s) not listed; fix these first"))]
        raise ConfigError(problems)
    return settings


def _positions(data: object, path: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Each key path in the document (``a.b``, ``a.list[0].c``, as problems name them) → its
    position in the file: YAML mappings load in file order, so a walk gives it."""
    out = {} if out is None else out
    if len(out) > 10_000:  # a config has a few hundred keys; past this, order by what was seen
        return out
    items = (data.items() if isinstance(data, Mapping)
             else ((f"[{i}]", v) for i, v in enumerate(data)) if isinstance(data, list) else ())
    for key, value in items:
        sub = (f"{path}{key}" if str(key).startswith("[") and isinstance(data, list)
               else f"{path}.{key}" if path else str(key))
        out.setdefault(sub, len(out))
        _positions(value, sub, out)
    return out


def in_file_order(problems: list[Problem], data: object) -> list[Problem]:
    """The problems in the order their keys appear in the file (issue 23: they came in the
    loader's order); a problem about a key the file does not have (the environment, a missing
    section) goes under its nearest enclosing key, and those about no key at all come first."""
    where = _positions(data)

    def position(p: Problem) -> int:
        key = p.key
        while key:
            if key in where:
                return where[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return -1

    return sorted(problems, key=position)  # stable: a key's own problems keep their order


def _build(r: Reader, env: Mapping[str, str]) -> c.Settings:
    secret = _merchant_key(r, env)
    g, d = r.section("gateway"), c.Gateway()
    # Read the key even when the environment wins, so it counts as known (not "unknown key").
    file_url = g.get("url", str, d.url)
    gw_url = env.get("LAVA_GATEWAY_URL") or file_url
    if (msg := url_problem(gw_url)) is not None:
        g.problem("url", msg + " (from LAVA_GATEWAY_URL)" if env.get("LAVA_GATEWAY_URL") else msg)
    gateway = c.Gateway(
        url=gw_url.rstrip("/"),
        connect_timeout=g.get("connect_timeout_seconds", float, d.connect_timeout, positive),
        first_byte_timeout=g.get("first_byte_timeout_seconds", float, d.first_byte_timeout, positive),
        idle_timeout=g.get("idle_timeout_seconds", float, d.idle_timeout, positive),
        max_connections=g.get("max_connections", int, d.max_connections, positive),
        connect_retries=g.get("connect_retries", int, d.connect_retries, non_negative),
        keepalive_expiry=g.get("keepalive_expiry_seconds", float, d.keepalive_expiry, positive),
        client=cast(Any, g.choice("client", ("lean", "aiohttp"), d.client)),
    )
    g.finish()
    providers = _providers(r, env)
    default_provider = r.get("default_provider", str, "openai")
    if default_provider not in {p.name for p in providers}:
        r.problem("default_provider", f"no provider named {shown(default_provider)}")
    md = r.section("metadata")
    static = md.raw("static") or {}
    static_pairs: tuple[tuple[str, str], ...] = ()
    if not isinstance(static, dict):
        md.problem("static", "must be a mapping of string keys to string values")
    elif (msg := validate_metadata_pairs(static)) is not None:
        md.problem("static", msg)
    else:
        static_pairs = tuple(sorted(static.items()))
    allow_header = md.get("allow_header", bool, True)
    md.finish()
    lim, dl = r.section("limits"), c.Limits()
    limits = c.Limits(
        max_body_bytes=lim.get("max_body_bytes", int, dl.max_body_bytes, positive),
        max_header_bytes=lim.get("max_header_bytes", int, dl.max_header_bytes, positive),
        max_headers=lim.get("max_headers", int, dl.max_headers, positive),
        max_sse_line_bytes=lim.get("max_sse_line_bytes", int, dl.max_sse_line_bytes, positive),
    )
    bounds = read_client_bounds(lim, limits.max_body_bytes)
    lim.finish()
    ms, dm = r.section("metrics"), c.Metrics()
    metrics = c.Metrics(
        max_customers=ms.get("max_customers", int, dm.max_customers, positive),
        max_models=ms.get("max_models", int, dm.max_models, positive),
        customer_label=ms.get("customer_label", bool, dm.customer_label),
    )
    ms.finish()
    ul, du = r.section("usage_log"), c.UsageLog()
    ul.seen.add("path")  # read only when present: known all the same ("did you mean path?")
    usage_log = c.UsageLog(
        path=ul.get("path", str, "") or None if "path" in ul.data else du.path,
        fsync_interval=ul.get("fsync_interval_seconds", float, du.fsync_interval, positive),
        max_bytes=ul.get("max_bytes", int, du.max_bytes, positive),
        backups=ul.get("backups", int, du.backups, non_negative),
        on_error=cast(c.UsageLogPolicy, ul.choice("on_error", ("serve", "reject"), du.on_error)),
        replay_on_start=ul.get("replay_on_start", bool, du.replay_on_start),
        min_retention=ul.get("min_retention_seconds", float, du.min_retention, _retention),
    )
    ul.finish()
    ut, dt = r.section("usage_totals"), c.UsageTotals()
    usage_totals = c.UsageTotals(
        max_customers=ut.get("max_customers", int, dt.max_customers, _customers_cap),
    )
    ut.finish()
    us = r.section("usage")
    estimate = us.get("estimate_missing", bool, False)
    us.finish()
    sd, ds = r.section("shutdown"), c.Shutdown()
    shutdown = c.Shutdown(
        grace=sd.get("grace_seconds", float, ds.grace, non_negative),
        drain_delay=sd.get("drain_delay_seconds", float, ds.drain_delay, non_negative),
    )
    sd.finish()
    lg = r.section("logging")
    logging_ = c.Logging(
        level=cast(Any, lg.choice("level", ("debug", "info", "warning", "error"), "info")),
        format=cast(Any, lg.choice("format", ("json", "text"), "json")),
        access_log=lg.get("access_log", bool, False),
    )
    lg.finish()
    settings = c.Settings(
        secret_key=secret,
        listen=listen_field(r, "listen", c.DEFAULT_LISTEN),
        admin_listen=listen_field(r, "admin_listen", c.DEFAULT_ADMIN_LISTEN),
        gateway=gateway,
        identity=_identity(r, env),
        providers=providers,
        default_provider=default_provider,
        static_metadata=static_pairs,
        allow_metadata_header=allow_header,
        limits=limits,
        bounds=bounds,
        metrics=metrics,
        usage_log=usage_log,
        usage_totals=usage_totals,
        estimate_missing_usage=estimate,
        meters=_meters(r),
        shutdown=shutdown,
        logging=logging_,
        quotas=read_quotas(r.section("quotas"), env),
        mcp=read_mcp(r.section("mcp")),
        tracing=read_tracing(r.section("tracing"), env),
        pricing=read_pricing(r.section("pricing")),
    )
    r.finish()
    return settings
