"""``lava-sidecar dev-gateway``: run the local Lava (forward path, mock providers, management REST)
on loopback, for the demo and offline development. Heavy imports stay inside ``run``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = """Run a local Lava-compatible gateway: /v1/forward with mock OpenAI, Anthropic and
OpenAI-compatible providers (deterministic usage), fault injection (x-emulator-fault), recorded
cassettes, the management REST API (meters, plans, customers, checkout, usage, requests), the
hosted checkout page @lavapayments/checkout opens, and a read-only dashboard at /.

Point the sidecar at it with LAVA_GATEWAY_URL=http://127.0.0.1:8788 and the same LAVA_SECRET_KEY.
Without LAVA_SECRET_KEY a new aks_test_ key is generated and printed once."""

DEFAULT_LISTEN = "127.0.0.1:8788"


def listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def passthrough_pair(value: str) -> tuple[str, str]:
    host, sep, url = value.partition("=")
    if not sep or not host or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"expected HOST=URL such as api.openai.com=http://127.0.0.1:11434, got {value!r}")
    return host.lower(), url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", type=listen_address, default=DEFAULT_LISTEN,
                        metavar="HOST:PORT", help=f"address to serve on (default {DEFAULT_LISTEN};"
                                                  " port 0 picks a free one)")
    parser.add_argument("--db", type=Path, metavar="FILE",
                        help="keep merchants, customers and usage in this SQLite file "
                             "(default: in memory, gone on exit)")
    parser.add_argument("--cassettes", type=Path, action="append", default=[], metavar="PATH",
                        help="serve recorded go-vcr YAML responses (file or directory; repeatable)")
    parser.add_argument("--passthrough", type=passthrough_pair, action="append", default=[],
                        metavar="HOST=URL", help="send this provider host to a real server "
                                                 "instead of the mock (repeatable)")
    parser.add_argument("--stream-chunks", type=int, metavar="N",
                        help="content chunks per mock stream (default: one per token)")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, metavar="MS",
                        help="pause between mock stream chunks")
    parser.add_argument("--output-tokens", type=int, default=16, metavar="N",
                        help="default mock answer length in tokens (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed for cassette chunk sizes")


def _secret_key() -> tuple[str, bool]:
    """(key, generated). LAVA_SECRET_KEY, else LAVA_SECRET_KEY_FILE, else a new test key."""
    import secrets

    key = os.environ.get("LAVA_SECRET_KEY", "").strip()
    path = os.environ.get("LAVA_SECRET_KEY_FILE", "").strip()
    if not key and path:
        key = Path(path).read_text(encoding="utf-8").strip()
    if key:
        return key, False
    return "aks_test_" + secrets.token_hex(16), True


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    import uvloop
    from aiohttp import web

    from ..errors import ConfigError
    from ..secret import Secret
    from .app import create_gateway_app
    from .cassettes import load_cassettes
    from .local import local_gateway
    from .providers import Pacing
    from .state import GatewayOptions, Upstream

    try:
        key, generated = _secret_key()
        cassettes = load_cassettes(args.cassettes) if args.cassettes else ()
    except (OSError, ConfigError) as exc:
        print(f"dev-gateway: {exc}", file=sys.stderr)
        return 2
    if (args.stream_chunks is not None and args.stream_chunks < 1) or args.output_tokens < 1:
        print("dev-gateway: --stream-chunks and --output-tokens must be at least 1",
              file=sys.stderr)
        return 2
    options = GatewayOptions(
        pacing=Pacing(args.stream_chunks, args.chunk_delay_ms / 1000, args.output_tokens),
        cassettes=cassettes, cassette_seed=args.seed, db_path=args.db,
        passthrough=tuple((h, Upstream(u)) for h, u in args.passthrough))
    host, port = args.listen

    async def serve() -> None:
        local = local_gateway(Secret(key), options)
        app = create_gateway_app(local.state, extra_routes=local.extra_routes)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await web.TCPSite(runner, host, port).start()
            bound = runner.addresses[0]
            url = f"http://{bound[0]}:{bound[1]}"
            print(f"dev-gateway: local Lava on {url} (forward: {url}/v1/forward?u=<provider URL>)",
                  flush=True)
            if generated:
                # The one place a key is printed: a new key for this local gateway only.
                print(f"dev-gateway: new merchant secret key: LAVA_SECRET_KEY={key}", flush=True)
                if args.db:
                    print("dev-gateway: export it to reuse this merchant with --db next time",
                          flush=True)
            else:
                print(f"dev-gateway: merchant secret key from the environment "
                      f"({Secret(key).hint()})", flush=True)
            print(f"dev-gateway: dashboard {url}/ (loopback clients only); Lava's checkout "
                  f"package opens {url}/embed/checkout/<secret>", flush=True)
            print(f"dev-gateway: point the sidecar here: LAVA_GATEWAY_URL={url}", flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()

    uvloop.run(serve())
    print("dev-gateway: stopped", flush=True)
    return 0
