"""The MCP tools' logic, free of MCP types: each tool is an async method returning a JSON document
or raising ``ToolFailure`` (a status, a stable code and a sentence), which the transport shell
turns into an MCP tool error.

Billable traffic (``prompt``, ``call``, the ``providers`` model lists) is real HTTP to the sidecar's
proxy listener carrying the bound customer's control headers and ``X-Lava-Client: mcp``, so it
takes the sidecar's whole request path (identity, routing, quotas, metering, the usage log,
metrics): one tool call, one usage record. Billing-admin tools go through ``proxy.billing``.
No result, error or log line carries the merchant key or a forward token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import httpx

from ..billing import AsyncLavaClient, LavaError
from ..billing.output import to_json
from ..config import Identity, Provider, Settings
from ..errors import ERROR_CODE_HEADER, IdentityError
from ..identity import CLIENT_HEADER, IdentityResolver
from ..redact import redact_text
from . import gemini
from .config import McpSettings
from .results import (
    CallResult,
    LoginResult,
    PromptResult,
    ProviderEntry,
    ProvidersResult,
    Usage,
    UsageResult,
)

T = TypeVar("T")
#: The largest response body a tool reads back; beyond it the result says it was cut.
MAX_RESULT_BYTES: Final = 1024 * 1024
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
#: A provider path: slash-separated plain segments, an optional plain query string.
_PATH_RE: Final = re.compile(r"(/[A-Za-z0-9._~:@!$&'()*+,;=-]+)+/?(\?[A-Za-z0-9._~:@!$&'()*+,;=/?%-]*)?")


class ToolFailure(Exception):
    """A tool's refusal or a failed request, in the proxy's vocabulary (status, code, sentence)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        # Whatever an upstream said, a key or token pattern in it never reaches the model.
        message = redact_text(message)
        super().__init__(message)
        self.status, self.code, self.message = status, code[:64], message[:1000]

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class Bound:
    """Who a tool call bills: a Lava customer (``None``: the merchant) and meter."""

    customer: str | None
    meter: str | None


@dataclass(frozen=True, slots=True)
class SidecarLink:
    """Where the sidecar answers: the proxy listener, and the admin listener for ``/usage``."""

    url: str
    admin_url: str | None
    embedded: bool


def key_facts(key: str) -> tuple[str, str]:
    """``live``/``test`` and the last four characters: all a tool ever shows of the key."""
    kind = "live" if key.startswith("aks_live_") else "test" if key.startswith("aks_test_") else "unknown"
    return kind, key[-4:] if len(key) >= 12 else "????"


def check_path(path: str) -> str:
    """A path below the provider's API root, or ``ToolFailure``: nothing that leaves the provider."""
    if len(path) > 2048:
        raise ToolFailure(400, "path_invalid", "path is longer than 2048 characters")
    bare = path.split("?", 1)[0]
    lowered = path.lower()
    if (not path.startswith("/") or path.startswith("//") or "://" in path or "\\" in path
            or "%2e" in lowered or "%2f" in lowered or "%5c" in lowered
            or any(seg in (".", "..") for seg in bare.split("/")[1:])
            or not _PATH_RE.fullmatch(path)):  # whole: '$' would let a trailing newline in
        raise ToolFailure(400, "path_invalid",
                          "path must be a plain path below the provider's API root, e.g. /embeddings "
                          "or /messages: no '..' or '.' segments, no '//', no scheme or host, no "
                          "encoded slashes or dots")
    return path


def _size(value: object, limit: int, what: str) -> bytes:
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if len(data) > limit:
        raise ToolFailure(413, "argument_too_large",
                          f"{what} is {len(data)} bytes JSON-encoded; this server accepts at most "
                          f"{limit} (mcp.max_argument_bytes)")
    return data


def _failure(resp: httpx.Response, body: bytes) -> ToolFailure:
    """The sidecar's (or provider's) error in its API shape → the same status, code and sentence."""
    code = resp.headers.get(ERROR_CODE_HEADER) or ""
    message = ""
    try:
        doc = json.loads(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or "")
            code = code or str(err.get("code") or err.get("type") or "")
        elif isinstance(err, str):
            message = err
    except ValueError:
        message = body[:300].decode("utf-8", "replace")
    return ToolFailure(resp.status_code, code or "upstream_error",
                       message or f"the request failed with HTTP {resp.status_code}")


class Tools:
    """The tools over one sidecar and one Lava client. ``bind`` decides who pays for a call."""

    def __init__(self, settings: Settings, mcp: McpSettings, link: SidecarLink, http: httpx.AsyncClient,
                 lava: AsyncLavaClient, *, customer: str | None = None, meter: str | None = None,
                 billing_admin: bool = False) -> None:
        self.settings, self.mcp, self.link, self.http, self.lava = settings, mcp, link, http, lava
        self.billing_admin = billing_admin or mcp.allow_billing_admin
        ident = settings.identity
        # --customer / --meter act as the default customer and meter: the same rules otherwise.
        self._identity: Identity = dataclasses.replace(
            ident, default_customer=customer or ident.default_customer,
            default_meter=meter or ident.default_meter)
        self._resolver = IdentityResolver(self._identity)

    # -- who pays -----------------------------------------------------------------------------

    def bind(self, headers: dict[str, str] | None = None, customer: str | None = None) -> Bound:
        """``--customer`` / the identity rules over the MCP request's headers (HTTP; none on
        stdio); a ``customer`` argument only when ``mcp.allow_customer_argument`` is on."""
        if customer is not None and not self.mcp.allow_customer_argument:
            raise ToolFailure(403, "customer_argument_refused",
                              "this server bills its bound customer only; the customer argument "
                              "needs mcp.allow_customer_argument: true in the sidecar config")
        wanted = {k.lower(): v for k, v in (headers or {}).items()
                  if k.lower() in (self._identity.customer_header, self._identity.meter_header,
                                   "authorization", "x-api-key", "api-key")}
        if customer is not None:
            wanted[self._identity.customer_header] = customer
        try:
            resolved = self._resolver.resolve(wanted)
        except IdentityError as exc:
            raise ToolFailure(exc.status, exc.code, exc.message.replace(
                "send the X-Lava-Customer-Id header with the Lava customer id",
                "start the server with --customer cus_… (or send X-Lava-Customer-Id over HTTP)")) from None
        return Bound(resolved.billing.customer_id, resolved.billing.meter_slug)

    def bound_if_any(self, headers: dict[str, str] | None = None) -> Bound:
        """``bind`` for the tools that need no customer (``login``): none bound is an answer."""
        try:
            return self.bind(headers)
        except ToolFailure as exc:
            if exc.code not in ("customer_missing", "meter_missing"):
                raise
            return Bound(None, self._identity.default_meter)

    def _headers(self, who: Bound) -> dict[str, str]:
        out = {CLIENT_HEADER: "mcp", "Content-Type": "application/json"}
        if who.customer is not None:
            out[self._identity.customer_header] = who.customer
        if who.meter is not None:
            out[self._identity.meter_header] = who.meter
        return out

    def provider(self, name: str | None, model: str | None = None) -> Provider:
        if name is None:
            claude = bool(model and model.startswith("claude") and self.settings.provider("anthropic"))
            native = bool(model and model.startswith("gemini-") and self.settings.provider("gemini"))
            name = "anthropic" if claude else "gemini" if native else self.settings.default_provider
        found = self.settings.provider(name)
        if found is None:
            known = ", ".join(p.name for p in self.settings.providers)
            raise ToolFailure(400, "provider_unknown",
                              f"provider {name[:40]!r} is not configured; configured: {known}")
        return found

    async def _send(self, who: Bound, method: str, path: str, body: bytes | None
                    ) -> tuple[httpx.Response, bytes, bool]:
        """One request through the sidecar; the body read back bounded."""
        try:
            async with self.http.stream(method, self.link.url + path, content=body,
                                        headers=self._headers(who)) as resp:
                chunks: list[bytes] = []
                size, cut = 0, False
                async for chunk in resp.aiter_bytes():
                    if size + len(chunk) > MAX_RESULT_BYTES:
                        chunks.append(chunk[:MAX_RESULT_BYTES - size])
                        cut = True
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                return resp, b"".join(chunks), cut
        except httpx.TimeoutException:
            raise ToolFailure(504, "sidecar_timeout",
                              f"the sidecar did not answer within {self.mcp.timeout:g} s "
                              "(mcp.timeout_seconds)") from None
        except httpx.HTTPError:
            raise ToolFailure(502, "sidecar_unreachable",
                              f"cannot reach the sidecar at {self.link.url}: start `lava-sidecar "
                              "serve` or drop --sidecar to run an embedded one") from None

    # -- tools --------------------------------------------------------------------------------

    async def login(self, who: Bound) -> LoginResult:
        key = self.settings.secret_key.reveal()
        kind, last4 = key_facts(key)
        problem: str | None = None
        try:
            await self.lava.meters.list(limit=1)
        except LavaError as exc:
            problem = redact_text(f"{exc.status or 502} {exc.code}: {exc.message}")
        return LoginResult(gateway=self.settings.gateway.url, key_valid=problem is None, key_type=kind,
                           key_last4=last4, customer=who.customer, meter=who.meter,
                           providers=[p.name for p in self.settings.providers],
                           sidecar="embedded" if self.link.embedded else self.link.url,
                           billing_admin=self.billing_admin, problem=problem)

    async def prompt(self, who: Bound, model: str, messages: list[dict[str, Any]],
                     provider: str | None = None, max_tokens: int | None = None,
                     temperature: float | None = None) -> PromptResult:
        p = self.provider(provider, model)
        if not messages:
            raise ToolFailure(400, "messages_invalid", "messages must hold at least one message")
        if p.family == "anthropic":
            path, doc = p.prefix + "/messages", _anthropic_request(model, messages, max_tokens, temperature)
        elif p.family == "gemini":
            rest, doc = gemini.request(model, messages, max_tokens, temperature)
            path = p.prefix + rest
        else:
            doc = {"model": model, "messages": messages}
            if max_tokens is not None:
                doc["max_tokens"] = max_tokens
            if temperature is not None:
                doc["temperature"] = temperature
            path = p.prefix + "/chat/completions"
        body = _size(doc, self.mcp.max_argument_bytes, "the prompt")
        resp, data, _ = await self._send(who, "POST", path, body)
        if resp.status_code >= 400:
            raise _failure(resp, data)
        try:
            answer = json.loads(data)
        except ValueError:
            raise ToolFailure(502, "answer_invalid", "the provider's answer was not JSON") from None
        text, finish, usage = _read_answer(p.family, answer)
        named = answer.get("modelVersion" if p.family == "gemini" else "model")
        return PromptResult(text=text, model=named, provider=p.name, finish_reason=finish,
                            usage=usage, customer=who.customer,
                            lava_request_id=resp.headers.get("x-lava-request-id"))

    async def call(self, who: Bound, provider: str, method: str, path: str,
                   body: dict[str, Any] | list[Any] | None = None) -> CallResult:
        p = self.provider(provider)
        verb = method.upper()
        if verb not in _METHODS:
            raise ToolFailure(400, "method_invalid", f"method must be one of {', '.join(sorted(_METHODS))}")
        check_path(path)
        data = None if body is None else _size(body, self.mcp.max_argument_bytes, "the body")
        resp, out, cut = await self._send(who, verb, p.prefix + path, data)
        if resp.status_code >= 400:
            raise _failure(resp, out)
        ctype = resp.headers.get("content-type")
        parsed: Any = out.decode("utf-8", "replace")
        if not cut and ctype and "json" in ctype:
            with contextlib.suppress(ValueError):
                parsed = json.loads(out)
        return CallResult(status=resp.status_code, content_type=ctype, body=parsed, truncated=cut,
                          customer=who.customer, lava_request_id=resp.headers.get("x-lava-request-id"))

    async def providers(self, who: Bound, models_for: str | None = None) -> ProvidersResult:
        """The configured providers; with ``models_for``, that one provider's model list (one
        request through the sidecar, billed and logged like any other)."""
        out: list[ProviderEntry] = []
        if models_for is not None:
            self.provider(models_for)  # unknown: a tool error before anything is sent
        for p in self.settings.providers:
            entry = ProviderEntry(name=p.name, family=p.family, base_url=p.base_url, sidecar_path=p.prefix,
                                  default=p.name == self.settings.default_provider)
            if p.name == models_for:
                try:
                    native = p.family == "gemini"
                    listed = await self.call(who, p.name, "GET", gemini.MODELS_PATH if native else "/models")
                    data = listed["body"].get("data") if isinstance(listed["body"], dict) else None
                    ids = gemini.model_ids(listed["body"]) if native else \
                        [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m] \
                        if isinstance(data, list) else []
                    entry["models"] = ids[:200]
                except ToolFailure as exc:
                    entry["models_error"] = str(exc)
            out.append(entry)
        return ProvidersResult(providers=out, default_provider=self.settings.default_provider)

    async def usage(self, who: Bound, since: str | None = None) -> UsageResult:
        """The sidecar's ``/usage`` for the customer, and Lava's daily figures for it."""
        start = _day_start(since)
        sidecar: Any = None
        if self.link.admin_url is not None:
            try:
                resp = await self.http.get(self.link.admin_url + "/usage",
                                           params={"customer": who.customer or ""})
                sidecar = resp.json() if resp.status_code == 200 else {"error": f"HTTP {resp.status_code}"}
            except (httpx.HTTPError, ValueError):
                sidecar = {"error": "the sidecar's admin listener did not answer"}
        try:
            report = await self.lava.usage.get(start=start, customer_id=who.customer)
            lava: Any = json.loads(to_json(report))
        except LavaError as exc:
            lava = {"error": redact_text(f"{exc.status or 502} {exc.code}: {exc.message}")}
        return UsageResult(customer=who.customer, meter=who.meter, start=start.isoformat(),
                           sidecar=sidecar, lava=lava)

    # -- billing admin (merchant account) -----------------------------------------------------

    def _admin(self) -> None:
        if not self.billing_admin:
            raise ToolFailure(403, "billing_admin_disabled",
                              "billing-admin tools act on the merchant account and are off; start "
                              "the server with --allow-billing-admin (or mcp.allow_billing_admin: true)")

    async def admin(self, op: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        """One ``proxy.billing`` operation on the merchant account (a bound ``AsyncLavaClient``
        method, e.g. ``tools.lava.meters.create``); its typed result."""
        self._admin()
        _size(kwargs, self.mcp.max_argument_bytes, "the arguments")
        try:
            return await op(**kwargs)
        except LavaError as exc:
            raise ToolFailure(exc.status or 502, exc.code, exc.message) from None


def _day_start(since: str | None) -> datetime:
    if since is None:
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        when = datetime.fromisoformat(since)
    except ValueError:
        raise ToolFailure(400, "since_invalid",
                          "since must be an ISO 8601 date or time, e.g. 2026-05-01 or "
                          "2026-05-01T00:00:00-05:00") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _anthropic_request(model: str, messages: list[dict[str, Any]], max_tokens: int | None,
                       temperature: float | None) -> dict[str, Any]:
    """OpenAI chat messages → an Anthropic Messages request (system messages become ``system``)."""
    system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    rest = [{"role": "assistant" if m.get("role") == "assistant" else "user", "content": m.get("content", "")}
            for m in messages if m.get("role") != "system"]
    doc: dict[str, Any] = {"model": model, "messages": rest, "max_tokens": max_tokens or 1024}
    if system:
        doc["system"] = "\n\n".join(system)
    if temperature is not None:
        doc["temperature"] = temperature
    return doc


def _read_answer(family: str, answer: Any) -> tuple[str, str | None, Usage]:
    if not isinstance(answer, dict):
        raise ToolFailure(502, "answer_invalid", "the provider's answer was not a JSON object")
    found = answer.get("usage")
    raw_usage: dict[str, Any] = found if isinstance(found, dict) else {}
    if family == "gemini":
        return gemini.read_answer(answer)
    if family == "anthropic":
        blocks = answer.get("content") or []
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        return text, answer.get("stop_reason"), Usage(input_tokens=raw_usage.get("input_tokens"),
                                                      output_tokens=raw_usage.get("output_tokens"))
    choices = answer.get("choices") or [{}]
    first = choices[0] if isinstance(choices[0], dict) else {}
    message = first.get("message") or {}
    text = message.get("content") or "" if isinstance(message, dict) else ""
    return str(text), first.get("finish_reason"), Usage(input_tokens=raw_usage.get("prompt_tokens"),
                                                        output_tokens=raw_usage.get("completion_tokens"))
