"""The ``tracing:`` section and the OpenTelemetry SDK's own environment variables → ``TracingSettings``.

Off unless configured: tracing is on when an OTLP endpoint is given (``tracing.endpoint``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``) or ``tracing.enabled``
is true, and ``OTEL_SDK_DISABLED``/``OTEL_TRACES_EXPORTER=none``/``tracing.enabled: false`` do not
turn it off. The environment wins over the file, as ``LAVA_GATEWAY_URL`` does; a bad value is
reported with its dotted key and the variable it came from. Nothing needs installing: the spans are
encoded by ``otlp`` and sent with ``httpx`` (a dependency already).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, cast
from urllib.parse import unquote

from ..secret import Secret

if TYPE_CHECKING:
    # Only a type: ``proxy.config`` imports this module for ``Settings.tracing`` (see quotas.config).
    from ..config.fields import Reader

Compression = Literal["none", "gzip"]
Sampler = Literal["always_on", "always_off", "traceidratio", "parentbased_always_on",
                  "parentbased_always_off", "parentbased_traceidratio"]
SAMPLERS: Final[tuple[str, ...]] = ("always_on", "always_off", "traceidratio", "parentbased_always_on",
                                    "parentbased_always_off", "parentbased_traceidratio")
#: The OTLP/HTTP default (a collector on the same host or pod), as the SDK has it.
DEFAULT_ENDPOINT: Final = "http://localhost:4318/v1/traces"
#: Bounds on what the configuration can ask for: the queue is memory, the batch one request body.
_MAX_QUEUE: Final = 1_000_000
_MAX_HEADERS: Final = 32
_MAX_RESOURCE_ATTRIBUTES: Final = 64


@dataclass(frozen=True, slots=True)
class TracingSettings:
    enabled: bool = False
    endpoint: str = DEFAULT_ENDPOINT  # the full OTLP/HTTP traces URL (…/v1/traces)
    #: Sent with every export (a vendor's API key): secrets, never logged.
    headers: tuple[tuple[str, Secret], ...] = ()
    service_name: str = "lava-sidecar"
    resource_attributes: tuple[tuple[str, str], ...] = ()
    sampler: Sampler = "parentbased_always_on"
    sampler_ratio: float = 1.0  # for the traceidratio samplers
    max_queue_size: int = 2048
    max_export_batch_size: int = 512
    schedule_delay: float = 5.0  # seconds between exports of a batch that is not full
    export_timeout: float = 10.0  # seconds per export request (retries included)
    compression: Compression = "none"
    certificate: str | None = None  # CA bundle for an https endpoint (else the system's)
    client_certificate: str | None = None  # mTLS
    client_key: str | None = None
    #: What turned tracing on, for messages (``tracing.endpoint``, ``OTEL_EXPORTER_OTLP_ENDPOINT``).
    enabled_by: str = field(default="", compare=False)


def _truthy(value: str) -> bool:
    return value.strip().lower() == "true"


def _env(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of ``names`` set to a non-empty value: (name, value)."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def _pairs(raw: str) -> list[tuple[str, str]] | None:
    """``k=v,k2=v2`` (the OTEL_* list format, values percent-encoded); ``None`` when malformed."""
    out: list[tuple[str, str]] = []
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = unquote(name.strip())
        if not sep or not name:
            return None
        out.append((name, unquote(value.strip())))
    return out


def _endpoint(r: Reader, env: Mapping[str, str]) -> tuple[str | None, str]:
    from ..config.fields import url_problem  # by now proxy.config is fully imported

    file_value = r.get("endpoint", str, "")
    source = "tracing.endpoint"
    value: str | None = file_value or None
    if (found := _env(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) is not None:
        source, value = found
    elif (found := _env(env, "OTEL_EXPORTER_OTLP_ENDPOINT")) is not None:
        # The base endpoint: the signal path is appended (the SDK's rule).
        source, value = found[0], found[1].rstrip("/") + "/v1/traces"
    if value is not None and (msg := url_problem(value)) is not None:
        # The URL may carry credentials: the message names where it came from, not the value.
        r.problem("endpoint", f"must be an http(s) URL with a host, no query or fragment (from {source})"
                  if "got" in msg else f"{msg} (from {source})")
        value = None
    return value, source


def _headers(r: Reader, env: Mapping[str, str]) -> tuple[tuple[str, Secret], ...]:
    from ..config.fields import secret_ref

    ref = secret_ref(r, "headers", env, required=True)
    source, raw = "tracing.headers", ref.reveal() if ref is not None else ""
    if (found := _env(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")) is not None:
        source, raw = found
    if not raw:
        return ()
    pairs = _pairs(raw)
    # Values are credentials: a problem never quotes them.
    if pairs is None:
        r.problem("headers", f"must be name=value pairs separated by commas (from {source})")
        return ()
    if len(pairs) > _MAX_HEADERS:
        r.problem("headers", f"at most {_MAX_HEADERS} headers (from {source})")
        return ()
    if any(not n.replace("-", "").replace("_", "").isalnum() for n, _ in pairs):
        r.problem("headers", f"header names are letters, digits, - and _ (from {source})")
        return ()
    return tuple((n, Secret(v)) for n, v in pairs)


def _resource(r: Reader, env: Mapping[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    default_service = TracingSettings().service_name
    service = r.get("service_name", str, default_service)
    attrs: dict[str, str] = {}
    raw = r.raw("resource_attributes") or {}
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str | int | float)
                                               and not isinstance(v, bool) for k, v in raw.items()):
        r.problem("resource_attributes", "must be a mapping of names to strings or numbers")
    else:
        attrs.update((k, str(v)) for k, v in raw.items())
    if (found := _env(env, "OTEL_RESOURCE_ATTRIBUTES")) is not None:
        pairs = _pairs(found[1])
        if pairs is None:
            r.problem("resource_attributes", "must be name=value pairs separated by commas "
                      "(from OTEL_RESOURCE_ATTRIBUTES)")
        else:
            attrs.update(pairs)
    if len(attrs) > _MAX_RESOURCE_ATTRIBUTES:
        r.problem("resource_attributes", f"at most {_MAX_RESOURCE_ATTRIBUTES} attributes")
        attrs = {}
    # OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES (the SDK's rule).
    service = attrs.pop("service.name", service)
    if (found := _env(env, "OTEL_SERVICE_NAME")) is not None:
        service = found[1]
    if not service:
        r.problem("service_name", "must not be empty")
        service = default_service
    return service, tuple(sorted(attrs.items()))


def _sampler(r: Reader, env: Mapping[str, str]) -> tuple[Sampler, float]:
    d = TracingSettings()
    name = r.get("sampler", str, d.sampler)
    source = "tracing.sampler"
    if (found := _env(env, "OTEL_TRACES_SAMPLER")) is not None:
        source, name = found[0], found[1].lower()
    if name not in SAMPLERS:
        r.problem("sampler", f"must be one of {', '.join(SAMPLERS)}, got {name!r} (from {source})")
        name = d.sampler
    ratio: float = d.sampler_ratio
    raw: object = r.raw("sampler_arg")
    arg_source = "tracing.sampler_arg"
    if (found := _env(env, "OTEL_TRACES_SAMPLER_ARG")) is not None:
        arg_source, raw = found
    if raw is not None and name.endswith("traceidratio"):
        try:
            ratio = float(cast(str, raw)) if not isinstance(raw, bool) else -1.0
        except (TypeError, ValueError):
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            r.problem("sampler_arg", f"must be a number from 0 to 1, got {raw!r} (from {arg_source})")
            ratio = d.sampler_ratio
    return cast(Sampler, name), ratio


def _enabled(r: Reader, env: Mapping[str, str], endpoint_source: str | None) -> tuple[bool, str]:
    flag = r.raw("enabled")
    if flag is not None and not isinstance(flag, bool):
        r.problem("enabled", f"must be true, false or null, got {flag!r}")
        flag = None
    if flag is False or _truthy(env.get("OTEL_SDK_DISABLED", "")):
        return False, ""
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False, ""
    if exporter and exporter != "otlp":
        r.problem("enabled", f"OTEL_TRACES_EXPORTER={exporter!r}: only otlp (or none) is supported")
    if endpoint_source is not None:
        return True, endpoint_source
    return (True, "tracing.enabled") if flag else (False, "")


def _protocol(r: Reader, env: Mapping[str, str]) -> None:
    found = _env(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    if found is not None and found[1] != "http/protobuf":
        r.problem("endpoint", f"{found[0]}={found[1]!r}: the sidecar exports OTLP over HTTP "
                  "(http/protobuf, usually port 4318), not gRPC")


def _count(limit: int) -> Callable[[int], str | None]:
    def check(v: int) -> str | None:
        return None if 0 < v <= limit else f"must be from 1 to {limit}"
    return check


def _int_env(r: Reader, env: Mapping[str, str], key: str, var: str, default: int, limit: int) -> int:
    value = r.get(key, int, default, _count(limit))
    if (found := _env(env, var)) is not None:
        try:
            parsed = int(found[1])
        except ValueError:
            parsed = 0
        if not 0 < parsed <= limit:
            r.problem(key, f"must be an integer from 1 to {limit}, got {found[1]!r} (from {var})")
        else:
            value = parsed
    return value


def _timeout(r: Reader, env: Mapping[str, str], default: float) -> float:
    from ..config.fields import positive

    timeout = r.get("export_timeout_seconds", float, default, positive)
    found = _env(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    if found is not None:  # milliseconds, as the specification has it
        try:
            ms = float(found[1])
        except ValueError:
            ms = 0.0
        if not 0 < ms <= 600_000:
            r.problem("export_timeout_seconds", f"{found[0]} must be milliseconds from 1 to 600000, "
                      f"got {found[1]!r}")
        else:
            timeout = ms / 1000
    return timeout


def _tls(r: Reader, env: Mapping[str, str]) -> tuple[Compression, str | None, str | None, str | None]:
    compression = r.choice("compression", ("none", "gzip"), "none")
    found = _env(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")
    if found is not None:
        if found[1] not in ("none", "gzip"):
            r.problem("compression", f"must be none or gzip, got {found[1]!r} (from {found[0]})")
        else:
            compression = found[1]
    paths: list[str | None] = []
    for key, suffix in (("certificate", "CERTIFICATE"), ("client_certificate", "CLIENT_CERTIFICATE"),
                        ("client_key", "CLIENT_KEY")):
        path = r.get(key, str, "") or None
        source = f"tracing.{key}"
        if (found := _env(env, f"OTEL_EXPORTER_OTLP_TRACES_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}")):
            source, path = found
        if path is not None and not os.access(path, os.R_OK):
            r.problem(key, f"cannot read {path} (from {source})")
            path = None
        paths.append(path)
    if paths[2] and not paths[1]:
        r.problem("client_key", "needs client_certificate too")
    return cast(Compression, compression), paths[0], paths[1], paths[2]


def read_tracing(r: Reader, env: Mapping[str, str]) -> TracingSettings:
    """``r`` is the ``tracing`` section; problems go to its list. Returns defaults where a value is bad."""
    d = TracingSettings()
    endpoint, source = _endpoint(r, env)
    enabled, enabled_by = _enabled(r, env, source if endpoint is not None else None)
    headers = _headers(r, env)
    service, resource = _resource(r, env)
    sampler, ratio = _sampler(r, env)
    _protocol(r, env)
    queue = _int_env(r, env, "max_queue_size", "OTEL_BSP_MAX_QUEUE_SIZE", d.max_queue_size, _MAX_QUEUE)
    batch = _int_env(r, env, "max_export_batch_size", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                     d.max_export_batch_size, _MAX_QUEUE)
    if batch > queue:
        r.problem("max_export_batch_size", f"must not exceed max_queue_size ({queue})")
        batch = min(queue, d.max_export_batch_size)
    delay_ms = _int_env(r, env, "schedule_delay_ms", "OTEL_BSP_SCHEDULE_DELAY",
                        int(d.schedule_delay * 1000), 3_600_000)
    timeout = _timeout(r, env, d.export_timeout)
    compression, ca, cert, key = _tls(r, env)
    r.finish()
    return TracingSettings(
        enabled=enabled, endpoint=endpoint or d.endpoint, headers=headers, service_name=service,
        resource_attributes=resource, sampler=sampler, sampler_ratio=ratio, max_queue_size=queue,
        max_export_batch_size=batch, schedule_delay=delay_ms / 1000, export_timeout=timeout,
        compression=compression, certificate=ca, client_certificate=cert, client_key=key,
        enabled_by=enabled_by)


__all__ = ["DEFAULT_ENDPOINT", "SAMPLERS", "Compression", "Sampler", "TracingSettings", "read_tracing"]
