"""One OTLP/HTTP export: ``POST`` an encoded ``ExportTraceServiceRequest`` to the collector, with
the retry rule of the OTLP specification (429, 502, 503, 504 and connection failures are retried
with exponential backoff, ``Retry-After`` honoured, all within the export timeout).

Runs only in the export thread (``export.py``), on ``httpx``'s synchronous client (a dependency
already), one keep-alive connection. TLS, client certificates and gzip follow the ``OTEL_*``
settings the config read. The endpoint and headers may carry credentials: neither is ever logged.
"""

from __future__ import annotations

import gzip
import random
import ssl
import threading
import time
from typing import Final

import httpx

from .config import TracingSettings

RETRYABLE: Final = frozenset({429, 502, 503, 504})
_MAX_ATTEMPTS: Final = 6
_CONTENT_TYPE: Final = "application/x-protobuf"


class OtlpHttp:
    """``export.Exporter`` over OTLP/HTTP (protobuf)."""

    def __init__(self, cfg: TracingSettings) -> None:
        self._endpoint = cfg.endpoint
        self._timeout = cfg.export_timeout
        self._gzip = cfg.compression == "gzip"
        headers = {n: v.reveal() for n, v in cfg.headers}
        headers["Content-Type"] = _CONTENT_TYPE
        if self._gzip:
            headers["Content-Encoding"] = "gzip"
        verify: ssl.SSLContext | bool = True
        if cfg.certificate or cfg.client_certificate:
            verify = ssl.create_default_context(cafile=cfg.certificate)
            if cfg.client_certificate:
                verify.load_cert_chain(cfg.client_certificate, cfg.client_key)
        self._client = httpx.Client(headers=headers, verify=verify, timeout=cfg.export_timeout,
                                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                                    follow_redirects=False, trust_env=False)
        self._stop = threading.Event()

    def export(self, body: bytes) -> bool:
        """True when the collector accepted the batch."""
        deadline = time.monotonic() + self._timeout
        data = gzip.compress(body, 6) if self._gzip else body
        for attempt in range(_MAX_ATTEMPTS):
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                return False
            wait: float | None = None
            try:
                r = self._client.post(self._endpoint, content=data, timeout=left)
            except httpx.TransportError:  # refused, reset, timed out: the collector is not there yet
                pass
            else:
                if 200 <= r.status_code < 300:
                    return True
                if r.status_code not in RETRYABLE:
                    return False
                wait = _retry_after(r.headers.get("Retry-After"))
            if wait is None:
                wait = 2 ** attempt * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
            if wait >= deadline - time.monotonic() or self._stop.wait(wait):
                return False
        return False

    def shutdown(self) -> None:
        """Ends a backoff in progress at once; closes the connection."""
        self._stop.set()
        self._client.close()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: use the backoff
    return seconds if 0 <= seconds <= 60 else None
