"""The sans-IO heart of the Lava client, shared by the sync and async clients: a ``Call`` (what one
API operation sends and how its answer is read), the client settings, building the
``httpx.Request``, and turning a response or a transport failure into a value or a ``LavaError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

from .. import __version__
from ..secret import NO_MERCHANT_KEY, Secret, SecretFileError, merchant_key_from_env
from .errors import (
    LavaConfigError,
    LavaConnectionError,
    LavaError,
    LavaProtocolError,
    LavaTimeout,
    for_status,
)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.lava.so"
#: Seconds per call, and for connecting: Lava answers management calls quickly.
DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
#: Lava's answers are small JSON documents; a huge one is a fault, not data.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API operation: method, path under ``/v1``, query, JSON body, and the answer's parser."""

    method: str
    path: str
    parse: Callable[[object], T]
    params: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the API is and the key to it. ``base_url`` is the host root, ``/v1`` is added."""

    base_url: str
    secret_key: Secret = field(repr=False)
    timeout: httpx.Timeout = field(
        default_factory=lambda: httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT))

    @property
    def api_root(self) -> str:
        return self.base_url.rstrip("/") + "/v1"


def settings(base_url: str | None = None, secret_key: Secret | str | None = None,
             timeout: float | httpx.Timeout | None = None) -> Settings:
    """Arguments first, then ``LAVA_GATEWAY_URL`` / ``LAVA_SECRET_KEY`` (or ``LAVA_SECRET_KEY_FILE``);
    the URL defaults to
    ``https://api.lava.so``. A base URL ending in ``/v1`` is accepted as well."""
    url = (base_url or os.environ.get("LAVA_GATEWAY_URL") or DEFAULT_BASE_URL).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LavaConfigError(f"Lava base URL must be http(s)://host, got {url[:100]!r}")
    url = url.rstrip("/")
    url = url.removesuffix("/v1")
    if secret_key is None:
        try:  # the one reader of the environment's key (secret.py): LAVA_SECRET_KEY(_FILE)
            found = merchant_key_from_env()
        except SecretFileError as exc:
            raise LavaConfigError(str(exc)) from None
        key = found or Secret("")
    else:
        key = secret_key if isinstance(secret_key, Secret) else Secret(secret_key.strip())
    if not key:
        raise LavaConfigError(NO_MERCHANT_KEY)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if isinstance(timeout, int | float):
        timeout = httpx.Timeout(float(timeout), connect=min(CONNECT_TIMEOUT, float(timeout)))
    return Settings(url, key, timeout)


def user_agent() -> str:
    return f"lava-sidecar/{__version__} (python billing client)"


def build_request(s: Settings, call: Call[Any]) -> httpx.Request:
    headers = {"Authorization": f"Bearer {s.secret_key.reveal()}", "Accept": "application/json",
               "User-Agent": user_agent()}
    content = None
    if call.body is not None:
        content = json.dumps(call.body, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    return httpx.Request(call.method, s.api_root + call.path, params=list(call.params),
                         headers=headers, content=content)


def error_from(status: int, content: bytes) -> LavaError:
    """Lava's error body is ``{"error": {"message", "code"}}`` or ``{"error": "message"}``."""
    message, code = "", None
    try:
        doc = json.loads(content)
    except ValueError:
        doc = None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        code = str(err["code"]) if err.get("code") else None
    elif isinstance(err, str):
        message = err
    elif isinstance(doc, dict) and isinstance(doc.get("message"), str):
        message = doc["message"]
    if not message:
        text = content[:200].decode("utf-8", "replace").strip()
        message = text or f"Lava answered HTTP {status}"
    return for_status(status)(message[:1000], status=status, code=code)


def parse_response(call: Call[T], status: int, content: bytes) -> T:
    if not 200 <= status < 300:
        raise error_from(status, content)
    try:
        doc = json.loads(content) if content else {}
    except ValueError as exc:
        raise LavaProtocolError(f"{call.method} {call.path}: the answer is not JSON",
                                status=status) from exc
    return call.parse(doc)


@contextmanager
def transport_errors(call: Call[Any]) -> Iterator[None]:
    """httpx's exceptions → ours. Messages name the call, never the request's headers."""
    where = f"{call.method} {call.path}"
    try:
        yield
    except httpx.TimeoutException as exc:
        raise LavaTimeout(f"{where}: Lava did not answer in time ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise LavaConnectionError(f"{where}: cannot reach Lava ({type(exc).__name__})") from exc
