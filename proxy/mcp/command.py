"""``lava-sidecar mcp``: the MCP server for agents, over stdio (default) or streamable HTTP.

Its billable tools reach Lava through a sidecar: ``--sidecar URL`` (a running ``lava-sidecar
serve``) or, by default, one embedded in this process on loopback ephemeral ports with the same
configuration. The config file comes from ``--config`` or ``LAVA_SIDECAR_CONFIG`` (the variable is
the way under the MCP Inspector, which keeps ``--config`` for itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..config.fields import parse_listen, url_problem

if TYPE_CHECKING:
    from ..config import Settings
    from .tools import SidecarLink

HELP = """Serve Lava billing and metered AI calls to agents over MCP (Model Context Protocol).

  claude mcp add lava -- lava-sidecar mcp --customer cus_123 --meter chat-tokens   (stdio)
  lava-sidecar mcp --http 127.0.0.1:8790        (streamable HTTP at http://127.0.0.1:8790/mcp)

Tools: login, prompt, call, providers, usage; with --allow-billing-admin also create_meter,
create_plan, create_checkout_session, list_customers, customer_subscription.
Needs the extra: pip install 'lava-sidecar[mcp]'. Uses LAVA_SECRET_KEY (or LAVA_SECRET_KEY_FILE)
and LAVA_GATEWAY_URL."""

MISSING_SDK = ("lava-sidecar mcp needs the MCP Python SDK: install it with "
               "pip install 'lava-sidecar[mcp]'.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $LAVA_SIDECAR_CONFIG, else built-in defaults)")
    parser.add_argument("--customer", metavar="ID",
                        help="the Lava customer billed (default: identity.default_customer)")
    parser.add_argument("--meter", metavar="SLUG", help="the meter (default: identity.default_meter)")
    parser.add_argument("--http", metavar="HOST:PORT", nargs="?", const="127.0.0.1:8790",
                        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
                             "(default 127.0.0.1:8790; keep it on loopback)")
    parser.add_argument("--allow-origin", metavar="ORIGIN", action="append", default=[],
                        help="a browser Origin the HTTP endpoint answers (repeatable; loopback always)")
    parser.add_argument("--sidecar", metavar="URL",
                        help="a running `lava-sidecar serve` (e.g. http://127.0.0.1:8787) instead "
                             "of an embedded one")
    parser.add_argument("--sidecar-admin", metavar="URL",
                        help="that sidecar's admin listener, for the usage tool's /usage figures")
    parser.add_argument("--allow-billing-admin", action="store_true",
                        help="add the tools that change the merchant account (meters, plans, "
                             "checkout; also mcp.allow_billing_admin)")


def run(args: argparse.Namespace) -> int:
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        print(MISSING_SDK, file=sys.stderr)
        return 2
    from ..config import load_settings
    from ..errors import ConfigError
    from ..logs import configure

    problems = _argument_problems(args)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        print("Fix what is listed, then `lava-sidecar check-config` checks again.", file=sys.stderr)
        return 2
    configure(settings.logging)
    try:
        return asyncio.run(_main(args, settings))
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C
        return 130


def _argument_problems(args: argparse.Namespace) -> list[str]:
    from ..identity import CUSTOMER_ID_RE, METER_SLUG_RE

    out = []
    if args.customer is not None and not CUSTOMER_ID_RE.fullmatch(args.customer):
        out.append("--customer: must be 1-128 of A-Z a-z 0-9 . _ : -")
    if args.meter is not None and not METER_SLUG_RE.fullmatch(args.meter):
        out.append("--meter: must be 1-128 of A-Z a-z 0-9 . _ -")
    for name in ("sidecar", "sidecar_admin"):
        value = getattr(args, name)
        if value is not None and (msg := url_problem(value)) is not None:
            out.append(f"--{name.replace('_', '-')}: {msg}")
    if args.sidecar_admin and not args.sidecar:
        out.append("--sidecar-admin: only with --sidecar (an embedded sidecar's admin is known)")
    if args.http is not None:
        try:
            parse_listen(args.http)
        except ValueError as exc:
            out.append(f"--http: {exc}")
    return out


@contextlib.asynccontextmanager
async def _sidecar(args: argparse.Namespace, settings: Settings) -> AsyncIterator[SidecarLink]:
    from .tools import SidecarLink

    if args.sidecar:
        yield SidecarLink(args.sidecar.rstrip("/"), (args.sidecar_admin or "").rstrip("/") or None, False)
        return
    from ..lifecycle import running_sidecar

    embedded = settings
    if args.http is None and settings.usage_log.path == "-":
        # Standard output is the MCP channel: a usage line there would corrupt the protocol.
        embedded = dataclasses.replace(settings, usage_log=dataclasses.replace(settings.usage_log, path=None))
        print("lava-sidecar mcp: usage_log.path is stdout, which carries MCP over stdio; set a file "
              "path to keep a usage log", file=sys.stderr)
    embedded = dataclasses.replace(embedded, shutdown=dataclasses.replace(embedded.shutdown, drain_delay=0.0))
    async with running_sidecar(embedded) as sidecar:
        yield SidecarLink(sidecar.url, sidecar.admin_url, True)


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    import httpx

    from ..billing import AsyncLavaClient
    from .server import build_server, run_http, run_stdio
    from .tools import Tools

    mcp = settings.mcp
    try:
        timeout = httpx.Timeout(mcp.timeout, connect=10.0)
        async with _sidecar(args, settings) as link, \
                httpx.AsyncClient(timeout=timeout, trust_env=False) as http, \
                AsyncLavaClient(base_url=settings.gateway.url, secret_key=settings.secret_key,
                                timeout=mcp.timeout) as lava:
            tools = Tools(settings, mcp, link, http, lava, customer=args.customer, meter=args.meter,
                          billing_admin=args.allow_billing_admin)
            server = build_server(tools)
            _adopt_sdk_loggers()
            if args.http is None:
                await run_stdio(server, max_line=settings.limits.max_body_bytes)
            else:
                listen = parse_listen(args.http)
                if listen.host not in ("127.0.0.1", "localhost", "::1"):
                    print(f"lava-sidecar mcp: serving on {listen.host}, not loopback: anyone who can "
                          "reach it can spend through this server", file=sys.stderr)
                origins = tuple(dict.fromkeys((*mcp.allowed_origins, *args.allow_origin)))
                await run_http(server, listen.host, listen.port, origins,
                               max_body=settings.limits.max_body_bytes, ready=_announce)
    except OSError as exc:
        print(f"lava-sidecar mcp: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _adopt_sdk_loggers() -> None:
    """The SDK's and uvicorn's warnings through the sidecar's handler (formatted, secrets scrubbed)
    rather than the plain root handler the SDK installs."""
    import logging

    ours = logging.getLogger("lava_sidecar").handlers
    for name in ("mcp", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = list(ours)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _announce(url: str) -> None:
    print(f"lava-sidecar mcp: streamable HTTP on {url}", file=sys.stderr, flush=True)
