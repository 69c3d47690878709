"""The transport shell: the tools of ``tools.Tools`` as an ``MCPServer`` (the official MCP SDK),
with typed arguments (JSON Schema from the signatures), descriptions a model can act on, and
``ToolFailure`` turned into MCP tool errors (``isError: true``, the proxy's status, code, sentence).

Transports are the SDK's: stdio, and streamable HTTP behind its DNS-rebinding protection (the
``Host`` must be the address served, a browser ``Origin`` must be loopback or listed in
``mcp.allowed_origins``), run by uvicorn on a socket bound here. SIGTERM/SIGINT end either one so
that the caller's context managers unwind (the embedded sidecar drains): over HTTP by stopping
uvicorn without its signal re-raise, over stdio by ending the input the SDK reads (``_StdinRelay``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import Field

from .. import __version__
from .results import (
    CallResult,
    CheckoutResult,
    CustomersResult,
    LoginResult,
    MeterResult,
    PlanResult,
    PromptResult,
    ProvidersResult,
    SubscriptionResult,
    UsageResult,
)
from .tools import Bound, ToolFailure, Tools

log = logging.getLogger("lava_sidecar.mcp")
T = TypeVar("T")

INSTRUCTIONS = """\
This server bills AI traffic to a Lava customer through the lava-sidecar metering proxy.
Use `prompt` for a chat completion (OpenAI message format, any configured provider), `call` for any
other provider API call in its native format, `providers` to see what is configured, `usage` for
what the bound customer has used and been charged, and `login` to check the merchant key. Every
prompt or call is billed to the bound customer and recorded once. Errors carry an HTTP status and a
stable code: 402 means the customer's Lava balance or plan credit is used up, 429 a quota."""

CustomerArg = Annotated[str | None, Field(
    description="Bill this Lava customer id instead of the bound one; refused unless the server "
                "allows it (mcp.allow_customer_argument).", max_length=128)]

Money = Annotated[str, Field(description='A decimal USD amount as a string, e.g. "3.00".',
                             pattern=r"^\d{1,9}(\.\d{1,12})?$")]


async def _guard(work: Awaitable[T]) -> T:
    try:
        return await work
    except ToolFailure as exc:
        raise ToolError(str(exc)) from None


def _tool(server: MCPServer[Any], annotations: ToolAnnotations) -> Callable[[Callable[..., Any]], None]:
    """Register a tool; its description is its docstring on one line (models read it as prose)."""
    def register(fn: Callable[..., Any]) -> None:
        server.add_tool(fn, description=" ".join((fn.__doc__ or "").split()), annotations=annotations)
    return register


def _headers(ctx: Context[Any, Any] | None) -> dict[str, str]:
    """The HTTP request's headers when the call came over streamable HTTP; none on stdio."""
    request = getattr(ctx.request_context, "request", None) if ctx is not None else None
    headers = getattr(request, "headers", None)
    return dict(headers.items()) if headers is not None else {}


def build_server(tools: Tools) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("lava-sidecar", version=__version__, instructions=INSTRUCTIONS,
                                       log_level="WARNING")

    def who(ctx: Context[Any, Any] | None, customer: str | None = None) -> Bound:
        try:
            return tools.bind(_headers(ctx), customer)
        except ToolFailure as exc:
            raise ToolError(str(exc)) from None

    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @_tool(server, annotations=read_only)
    async def login(ctx: Context[Any, Any]) -> LoginResult:
        """Check the configured Lava merchant key against the gateway and report who is billed:
        the gateway URL, the key type (live or test) and its last four characters (never the key),
        the bound customer and meter, and the configured providers. Call this first."""
        try:
            bound = tools.bound_if_any(_headers(ctx))
        except ToolFailure as exc:
            raise ToolError(str(exc)) from None
        return await _guard(tools.login(bound))

    @_tool(server, annotations=ToolAnnotations(open_world_hint=True))
    async def prompt(
        model: Annotated[str, Field(description="Model id, e.g. gpt-4o-mini or claude-haiku-4-5.",
                                    min_length=1, max_length=200)],
        messages: Annotated[list[dict[str, Any]], Field(
            description='OpenAI chat messages, e.g. [{"role": "user", "content": "Hello"}].',
            min_length=1, max_length=1000)],
        ctx: Context[Any, Any],
        provider: Annotated[str | None, Field(
            description="A configured provider name (see `providers`); default: the sidecar's "
                        "default provider, or anthropic for claude-* models.", max_length=32)] = None,
        max_tokens: Annotated[int | None, Field(description="Upper bound on answer tokens.",
                                                ge=1, le=1_000_000)] = None,
        temperature: Annotated[float | None, Field(ge=0, le=2)] = None,
        customer: CustomerArg = None,
    ) -> PromptResult:
        """Send a chat completion through the metering sidecar, billed to the bound Lava customer.
        Returns the answer text, the model, the finish reason and the token usage. One call is one
        billed, logged request."""
        return await _guard(tools.prompt(who(ctx, customer), model, messages, provider, max_tokens,
                                         temperature))

    @_tool(server, annotations=ToolAnnotations(open_world_hint=True))
    async def call(
        provider: Annotated[str, Field(description="A configured provider name (see `providers`).",
                                       min_length=1, max_length=32)],
        path: Annotated[str, Field(
            description="Path below the provider's API root, e.g. /embeddings, /responses (OpenAI), "
                        "/messages (Anthropic) or /v1beta/models/gemini-2.5-flash:generateContent "
                        "(gemini); an optional query string. No '..', no '//', no host.",
            min_length=1, max_length=2048)],
        ctx: Context[Any, Any],
        method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST",
        body: Annotated[dict[str, Any] | list[Any] | None, Field(
            description="The JSON request body in the provider's native format.")] = None,
        customer: CustomerArg = None,
    ) -> CallResult:
        """Make any API call through a configured provider in its native format (embeddings,
        Anthropic messages, the Responses API…), billed to the bound Lava customer. Returns the
        HTTP status, content type and body (parsed JSON when it is JSON)."""
        return await _guard(tools.call(who(ctx, customer), provider, method, path, body))

    @_tool(server, annotations=read_only)
    async def providers(
        ctx: Context[Any, Any],
        models_for: Annotated[str | None, Field(
            description="Also list this provider's models (one billed, logged request).",
            max_length=32)] = None,
    ) -> ProvidersResult:
        """List the providers this sidecar routes to (what `prompt` and `call` take as provider):
        name, API family (openai, anthropic or gemini), base URL, the default one; with models_for, the
        models that provider offers."""
        return await _guard(tools.providers(who(ctx), models_for))

    @_tool(server, annotations=read_only)
    async def usage(
        ctx: Context[Any, Any],
        since: Annotated[str | None, Field(
            description="ISO 8601 start (default: today 00:00 UTC) for Lava's figures.",
            max_length=40)] = None,
        customer: CustomerArg = None,
    ) -> UsageResult:
        """The bound customer's usage: the sidecar's totals (requests, tokens, estimated charge, as
        its /usage endpoint has them) and Lava's own billed figures for the same customer."""
        return await _guard(tools.usage(who(ctx, customer), since))

    if tools.billing_admin:
        _billing_tools(server, tools)
    return server


def _billing_tools(server: MCPServer[Any], tools: Tools) -> None:
    """Tools acting on the merchant account: registered only with billing admin allowed."""
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                             open_world_hint=False)

    @_tool(server, annotations=writes)
    async def create_meter(
        name: Annotated[str, Field(min_length=1, max_length=200)],
        rate: Annotated[str, Field(description='USD per unit of tier_type, e.g. "3.00" per 1M tokens.',
                                   pattern=r"^\d{1,9}(\.\d{1,12})?$")],
        tier_type: Literal["tokens_1m", "characters_1m", "minutes", "requests"] = "tokens_1m",
        meter_slug: Annotated[str | None, Field(
            description="The slug requests name (X-Lava-Meter / --meter).",
            pattern=r"^[A-Za-z0-9._-]{1,128}$")] = None,
    ) -> MeterResult:
        """Create a Lava pricing meter (step 1 of billing setup). Returns the meter with its
        meter_id (for create_plan) and meter_slug (what requests are metered on)."""
        return MeterResult(meter=await _guard(tools.admin(
            tools.lava.meters.create, name=name, rate=rate, tier_type=tier_type, meter_slug=meter_slug)))

    @_tool(server, annotations=writes)
    async def create_plan(
        name: Annotated[str, Field(min_length=1, max_length=200)],
        period_amount: Money,
        meter_ids: Annotated[list[str], Field(description="meter_id values from create_meter.",
                                              max_length=50)],
        included_credit: Money | None = None,
        billing_interval: Literal["day", "week", "month", "year"] = "month",
    ) -> PlanResult:
        """Create a subscription plan over meters (step 2). Returns the plan with its plan_id."""
        return PlanResult(plan=await _guard(tools.admin(
            tools.lava.plans.create, name=name, period_amount=period_amount, meter_ids=meter_ids,
            included_credit=included_credit, billing_interval=billing_interval)))

    @_tool(server, annotations=writes)
    async def create_checkout_session(
        plan_id: Annotated[str, Field(min_length=1, max_length=128)],
        origin_url: Annotated[str, Field(description="The page the hosted checkout returns to.",
                                         max_length=2048)] = "http://localhost:3000",
        customer_id: Annotated[str | None, Field(description="A returning customer.",
                                                 max_length=128)] = None,
    ) -> CheckoutResult:
        """Start a checkout for a plan (step 3): the customer completes it on Lava's hosted page
        (open it with checkout_session_token), which creates their customer id and subscription."""
        return CheckoutResult(checkout_session=await _guard(tools.admin(
            tools.lava.checkout_sessions.create, plan_id=plan_id, origin_url=origin_url,
            customer_id=customer_id)))

    @_tool(server, annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def list_customers(
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Field(max_length=200)] = None,
    ) -> CustomersResult:
        """List the merchant's Lava customers (a page; pass next_cursor back as cursor for more)."""
        return CustomersResult(customers=await _guard(tools.admin(
            tools.lava.customers.list, limit=limit, cursor=cursor)))

    @_tool(server, annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def customer_subscription(
        customer_id: Annotated[str | None, Field(
            description="Default: the bound customer.", max_length=128)] = None,
    ) -> SubscriptionResult:
        """A customer's active subscription and remaining credits (null when none)."""
        try:
            target = customer_id or tools.bound_if_any().customer
        except ToolFailure as exc:
            raise ToolError(str(exc)) from None
        if target is None:
            raise ToolError("400 customer_missing: name a customer_id (this server has no bound customer)")
        found = await _guard(tools.admin(tools.lava.customers.subscription, customer_id=target))
        return SubscriptionResult(subscription=found)


# -- running ----------------------------------------------------------------------------------

async def run_stdio(server: MCPServer[Any], max_line: int) -> None:
    """Until stdin closes or SIGTERM/SIGINT; either way the SDK's session ends as on end of input,
    and the caller's context managers (the embedded sidecar's drain) unwind normally."""
    loop = asyncio.get_running_loop()
    with _StdinRelay(max_line) as relay:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, relay.stop)
        try:
            await server.run_stdio_async()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


class _StdinRelay:
    """Standard input through a pipe this process can end: the SDK reads stdin in a worker thread
    that a cancellation cannot interrupt, so a stop signal instead ends the input it reads (EOF).
    A thread copies the real stdin into the pipe until end of input or ``stop``; a line longer than
    ``max_line`` is cut off there (the SDK answers the fragment as invalid) and the rest dropped."""

    def __init__(self, max_line: int) -> None:
        self._max_line = max_line
        self._real = os.dup(0)
        read_end, self._write = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        os.dup2(read_end, 0)
        os.close(read_end)
        self._thread = threading.Thread(target=self._copy, name="lava-mcp-stdin", daemon=True)

    def __enter__(self) -> _StdinRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._thread.join(timeout=5)
        for fd in (self._real, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def stop(self) -> None:
        if self._thread.is_alive():
            log.info("stop signal received: shutting down")
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _copy(self) -> None:
        poller = select.poll()
        poller.register(self._real, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        run, dropping = 0, False  # bytes of the current line so far; past the limit?
        try:
            while True:
                if self._wake_r in {fd for fd, _ in poller.poll()}:
                    return
                data = os.read(self._real, 65536)
                if not data:
                    return
                for piece in data.splitlines(keepends=True):
                    ends = piece.endswith(b"\n")
                    if not dropping and run + len(piece) > self._max_line:
                        log.warning("an MCP message over %d bytes was dropped", self._max_line)
                        os.write(self._write, b"\n")
                        dropping = True
                    if not dropping:
                        os.write(self._write, piece)  # blocks while the SDK is behind: back-pressure
                    run = 0 if ends else run + len(piece)
                    dropping = dropping and not ends
        except OSError:
            return
        finally:
            os.close(self._write)  # the SDK's reader sees end of input


def security_for(host: str, port: int, origins: tuple[str, ...]) -> TransportSecuritySettings:
    """DNS-rebinding protection: the ``Host`` must name this listener; a browser ``Origin`` must be
    a loopback one on this port or one the config lists."""
    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") \
        else {host}
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    hosts = sorted(f"{n}:{port}" for n in names)
    allowed = sorted({f"http://{h}" for h in hosts} | set(origins))
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=allowed)


async def run_http(server: MCPServer[Any], host: str, port: int, origins: tuple[str, ...],
                   max_body: int, ready: Callable[[str], None]) -> None:
    """Streamable HTTP at ``http://HOST:PORT/mcp`` until SIGTERM/SIGINT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    app = server.streamable_http_app(transport_security=security_for(host, bound, origins),
                                     max_request_body_size=max_body, host=host)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    http = _Uvicorn(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, http.stop)
    shown = f"[{host}]" if ":" in host else host
    ready(f"http://{shown}:{bound}/mcp")
    try:
        await http.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server with our signal handling: uvicorn's own re-raises the signal after its
    graceful stop, which would end the process before the embedded sidecar drains and flushes."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal: stop waiting for open connections
        log.info("stop signal received: shutting down")
        self.should_exit = True
