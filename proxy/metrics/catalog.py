"""Every Prometheus metric the sidecar exports, on an injected ``CollectorRegistry``.

Names, labels and buckets are the contract in docs (dashboards and alerts use them verbatim).
``observe`` is on the request path: a record is folded into one row (``rows.py``: the
per-request counters are summed from the rows at scrape time) and into the lock-free histogram
series the row keeps references to (``families``); rare events use prometheus_client's own
counters, children made once.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..config import Metrics as MetricsConfig
from ..gateway.base import REASONS
from ..record import RequestRecord
from ..usage.base import Api
from .families import CounterFamily, FamiliesCollector, HistogramFamily
from .labels import MAX_METERS, OVERFLOW, LabelCap
from .rows import Histograms, Rows

# Wide: a reasoning model may think for minutes; a rejected request takes microseconds.
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                           60.0, 120.0, 300.0, 600.0)
TTFB_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                       300.0)
# The sidecar's own share is meant to be well under a millisecond.
OVERHEAD_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                           0.25, 1.0)
# OpenTelemetry GenAI semconv bucket advice: powers of 4 tokens, doubling seconds from 10 ms.
GENAI_TOKEN_BUCKETS: Final = tuple(float(4**i) for i in range(14))          # 1 … 67108864
GENAI_DURATION_BUCKETS: Final = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01 … 81.92

#: Our own error codes are a fixed set in code; the cap only guards against a future bug.
_MAX_REASONS: Final = 64

GENAI_OPERATION: Final = {Api.CHAT: "chat", Api.MESSAGES: "chat", Api.RESPONSES: "chat",
                           Api.COMPLETIONS: "text_completion", Api.EMBEDDINGS: "embeddings",
                           Api.GENERATE_CONTENT: "generate_content"}
# OTel ``gen_ai.provider.name`` well-known values, keyed by our provider names; others pass as-is.
GENAI_PROVIDER: Final = {"mistral": "mistral_ai", "xai": "x_ai", "google": "gcp.gemini",
                          "gemini": "gcp.gemini",
                          "bedrock": "aws.bedrock", "vertex": "gcp.vertex_ai",
                          "azure": "azure.ai.openai", "watsonx": "ibm.watsonx.ai"}

class Metrics:
    """The sidecar's metrics. Create once per app; pass the registry the admin app serves."""

    def __init__(self, registry: CollectorRegistry, cfg: MetricsConfig, *, version: str,
                 priced: bool = False) -> None:
        self._with_customer = cfg.customer_label
        self._customers = LabelCap(cfg.max_customers)
        self._models = LabelCap(cfg.max_models)
        self._meters = LabelCap(MAX_METERS)
        self._reasons = LabelCap(_MAX_REASONS)
        cust = ("customer",) if cfg.customer_label else ()
        r = registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=r)

        usage_labels = ("provider", "api", "model", *cust, "meter")
        self._requests = CounterFamily(
            "lava_sidecar_requests_total", "Finished requests by HTTP status sent to the client.",
            (*usage_labels, "code"))
        self._tokens = CounterFamily(
            "lava_sidecar_tokens_total", "Provider-reported (or estimated) tokens; cache_* are "
            "parts of input, reasoning is part of output.", (*usage_labels, "type"))
        self._characters = CounterFamily(
            "lava_sidecar_characters_total", "Text-to-speech input characters.", usage_labels)
        self._audio = CounterFamily(
            "lava_sidecar_audio_seconds_total", "Audio seconds transcribed or translated.",
            usage_labels)
        self._charge = CounterFamily(
            "lava_sidecar_charge_usd_total", "Charge from the meter prices (Lava's, or meters: in "
            "config); requests whose meter has no price are not in it.",
            (*cust, "meter"))
        self._records = CounterFamily(
            "lava_sidecar_usage_records_total", "Forwarded requests by where their usage came from.",
            ("provider", "api", "source", "partial"))
        self._duration = HistogramFamily(
            "lava_sidecar_request_duration_seconds", "Request received to last byte relayed.",
            ("provider", "api", "stream"), DURATION_BUCKETS)
        self._ttfb = HistogramFamily(
            "lava_sidecar_time_to_first_byte_seconds", "Request received to first body byte "
            "relayed, streams only.", ("provider", "api"), TTFB_BUCKETS)
        self._overhead = HistogramFamily(
            "lava_sidecar_overhead_seconds", "Time the sidecar itself added.",
            ("provider", "api"), OVERHEAD_BUCKETS)
        self._genai_tokens = HistogramFamily(
            "gen_ai_client_token_usage", "OpenTelemetry gen_ai.client.token.usage.",
            ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_token_type",
             "gen_ai_request_model", "gen_ai_response_model"), GENAI_TOKEN_BUCKETS)
        self._genai_duration = HistogramFamily(
            "gen_ai_client_operation_duration_seconds",
            "OpenTelemetry gen_ai.client.operation.duration.",
            ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model",
             "error_type"), GENAI_DURATION_BUCKETS)
        # The charge family exists only with prices: an always-empty metric would suggest "free".
        self._priced = priced
        self._rows = Rows(
            with_customer=cfg.customer_label, priced=priced,
            counters=(self._requests, self._tokens, self._characters, self._audio, self._charge,
                      self._records),
            histograms=Histograms(duration=self._duration, ttfb=self._ttfb,
                                  overhead=self._overhead, genai_tokens=self._genai_tokens,
                                  genai_duration=self._genai_duration))
        r.register(FamiliesCollector(
            (self._duration, self._ttfb, self._overhead, self._genai_tokens, self._genai_duration),
            derived=self._rows,
            derived_specs=[f for f in (self._requests, self._tokens, self._characters, self._audio,
                                       self._charge if priced else None, self._records)
                           if f is not None]))
        upstream = counter("lava_sidecar_upstream_errors_total",
                           "Failures talking to the Lava gateway.", ("reason",))
        self._upstream = {reason: upstream.labels(reason) for reason in REASONS}
        self._connect_retries = counter("lava_sidecar_connect_retries_total",
                                        "Connection attempts to the gateway that were retried.")
        self._rejected = counter(
            "lava_sidecar_rejected_requests_total", "Requests the sidecar refused itself (4xx/503).",
            ("reason",))
        self._unattributed = counter("lava_sidecar_unattributed_requests_total",
                                     "Requests without a customer, billed to the merchant by config.")
        overflow = counter("lava_sidecar_label_overflow_total",
                           "Requests counted under the __overflow__ label value.", ("label",))
        self._customer_overflow = overflow.labels("customer")
        self._model_overflow = overflow.labels("model")
        self._meter_overflow = overflow.labels("meter")
        self._extractor_errors = counter(
            "lava_sidecar_extractor_errors_total", "Responses whose usage reader failed.",
            ("api",))
        disconnects = counter("lava_sidecar_client_disconnects_total",
                              "Clients that went away before the response was complete.", ("stage",))
        self._disconnect_before = disconnects.labels("before_response")
        self._disconnect_mid = disconnects.labels("mid_stream")
        self._log_records = counter("lava_sidecar_usage_log_records_total",
                                    "Usage log lines written.")
        self._log_errors = counter("lava_sidecar_usage_log_errors_total",
                                   "Usage log write or fsync failures, and lines dropped.")
        self._recorder_errors = counter("lava_sidecar_recorder_errors_total",
                                        "Internal failures while recording a finished request.")
        self.inflight_requests = Gauge("lava_sidecar_inflight_requests",
                                       "Requests being served.", registry=r)
        self.inflight_streams = Gauge("lava_sidecar_inflight_streams",
                                      "SSE responses being relayed.", registry=r)
        self.usage_log_pending = Gauge("lava_sidecar_usage_log_pending",
                                       "Usage log lines accepted but not yet fsynced.", registry=r)
        self.ready = Gauge("lava_sidecar_ready", "1 when ready for traffic, 0 while starting or "
                           "draining.", registry=r)
        Gauge("lava_sidecar_build_info", "Build information.", ("version", "python"),
              registry=r).labels(version, platform.python_version()).set(1)

    # -- gauges read at scrape time (no cost on the request path) -------------------------------

    def watch(self, *, inflight_requests: Callable[[], float] | None = None,
              inflight_streams: Callable[[], float] | None = None,
              ready: Callable[[], bool] | None = None,
              usage_log_pending: Callable[[], float] | None = None) -> None:
        """Make gauges read live values at scrape time instead of being set per request."""
        if inflight_requests is not None:
            self.inflight_requests.set_function(inflight_requests)
        if inflight_streams is not None:
            self.inflight_streams.set_function(inflight_streams)
        if ready is not None:
            self.ready.set_function(lambda: 1.0 if ready() else 0.0)
        if usage_log_pending is not None:
            self.usage_log_pending.set_function(usage_log_pending)

    # -- events known only outside a record ----------------------------------------------------

    def connect_retry(self) -> None:
        """``GatewayClient(on_retry=metrics.connect_retry)``."""
        self._connect_retries.inc()

    def recorder_error(self) -> None:
        self._recorder_errors.inc()

    # ``LedgerObserver``: called from the usage log's thread (prometheus_client is thread-safe).
    def lines_written(self, n: int) -> None:
        self._log_records.inc(n)

    def write_failed(self) -> None:
        self._log_errors.inc()

    # -- one finished request -------------------------------------------------------------------

    def observe(self, rec: RequestRecord, charge: Decimal | None) -> None:
        """Count one finished request. Pure bookkeeping on the loop thread: no I/O, no locks; one
        row, and the histogram series it keeps references to."""
        provider, api = rec.provider, rec.api.value
        model = self._models.admit(rec.model or "")
        if model is OVERFLOW:
            self._model_overflow.inc()
        meter = self._meters.admit(rec.meter_slug or "")
        if meter is OVERFLOW:
            self._meter_overflow.inc()
        customer = ""
        if self._with_customer:
            customer = self._customers.admit(rec.customer_id or "")
            if customer is OVERFLOW:
                self._customer_overflow.inc()
        status = rec.status
        code = str(status) if 100 <= status <= 599 else "0"
        if rec.identity_via == "merchant":
            self._unattributed.inc()
        if rec.outcome == "rejected":
            self._rows.refused((provider, api, model, customer, meter, code, "", "", "", "", ""))
            self._rejected.labels(self._reasons.admit(rec.error_code or "unknown")).inc()
            return
        # Everything below concerns requests that were sent on.
        if rec.outcome == "client_disconnect":
            (self._disconnect_before if status == 0 else self._disconnect_mid).inc()
        if rec.upstream_error is not None:
            # A reason outside the fixed set is a bug elsewhere; it is still a failure to count.
            self._upstream.get(rec.upstream_error, self._upstream["protocol"]).inc()
        if rec.extractor_error:
            self._extractor_errors.labels(api).inc()
        source = rec.usage.source
        op = GENAI_OPERATION.get(rec.api)
        genai: tuple[str, str] | None = None
        error = response_model = ""
        if op is not None:
            genai = op, GENAI_PROVIDER.get(provider, provider)
            if rec.outcome != "ok" or status >= 400:
                error = self._reasons.admit(rec.error_code or rec.upstream_error or (
                    str(status) if rec.outcome in ("ok", "upstream_refused") else rec.outcome))
            if source != "missing":
                response_model = self._models.admit(rec.usage.model or "")
        self._rows.add((provider, api, model, customer, meter, code, source,
                         "true" if rec.partial else "false", "true" if rec.stream else "false",
                         response_model, error), rec, charge, genai)
