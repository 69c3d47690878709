"""Traces: one OpenTelemetry span per proxied request (GenAI conventions), the caller's W3C trace
continued through Lava, exported over OTLP/HTTP in the background. Off unless configured.

``config`` reads the ``tracing:`` section and the SDK's ``OTEL_*`` variables; ``w3c`` is the pure
part that runs at admission (``traceparent``, ids, sampling); ``spans.Tracer`` is the admission and
completion hook that builds the spans from the request's ``RequestRecord``; ``export`` the bounded
batch queue and its thread. Only ``spans`` imports the SDK (the ``otel`` extra), and only
``proxy.app`` imports ``spans``, when tracing is on. See docs/tracing.md.
"""

from .config import TracingSettings, read_tracing

__all__ = ["TracingSettings", "read_tracing"]
