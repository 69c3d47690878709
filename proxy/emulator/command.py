"""``lava-sidecar dev-gateway``: run the local Lava (forward path, mock providers, management REST)
on loopback, for the demo and offline development. Heavy imports stay inside ``run``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .seed import Seeded

HELP = """Run a local Lava-compatible gateway: /v1/forward with mock OpenAI, Anthropic, Gemini and
OpenAI-compatible providers (deterministic usage), fault injection (x-emulator-fault), recorded
cassettes, the management REST API (meters, plans, customers, checkout, usage, requests), the
hosted checkout page @lavapayments/checkout opens, and a read-only dashboard at /.

Point the sidecar at it with LAVA_GATEWAY_URL=http://127.0.0.1:8788 and the same LAVA_SECRET_KEY
(or LAVA_SECRET_KEY_FILE); without either a new aks_test_ key is generated and printed.
--seed creates what README's quick start bills (meter chat-tokens, customer cus_123)."""

DEFAULT_LISTEN = "127.0.0.1:8788"


def listen_address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or len(port) > 5 \
            or not 0 <= int(port) <= 65535:
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
    parser.add_argument("--seed", action="store_true",
                        help="start ready for the README's quick start: meter chat-tokens "
                             "($3.00 per 1M tokens), plan Starter ($10.00 of credit) and customer "
                             "cus_123 on it (found, not duplicated, in a --db kept from before)")
    parser.add_argument("--cassette-seed", type=int, default=0, metavar="N",
                        help="seed for cassette chunk sizes")


def _secret_key() -> tuple[str, bool]:
    """(key, generated): the environment's key through the one reader every command shares
    (``secret.py``: LAVA_SECRET_KEY, else LAVA_SECRET_KEY_FILE), else a new test key."""
    import secrets

    from ..secret import merchant_key_from_env

    found = merchant_key_from_env()  # SecretFileError: a named file that gives no key
    if found is not None:
        return found.reveal(), False
    return "aks_test_" + secrets.token_hex(16), True


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    import uvloop
    from aiohttp import web

    from ..errors import ConfigError
    from ..secret import Secret, SecretFileError
    from .app import create_gateway_app
    from .cassettes import load_cassettes
    from .local import local_gateway
    from .providers import Pacing
    from .seed import seed
    from .state import GatewayOptions, Upstream

    try:
        key, generated = _secret_key()
        cassettes = load_cassettes(args.cassettes) if args.cassettes else ()
    except (OSError, ConfigError, SecretFileError) as exc:
        print(f"dev-gateway: {exc}", file=sys.stderr)
        return 2
    if (args.stream_chunks is not None and args.stream_chunks < 1) or args.output_tokens < 1:
        print("dev-gateway: --stream-chunks and --output-tokens must be at least 1",
              file=sys.stderr)
        return 2
    options = GatewayOptions(
        pacing=Pacing(args.stream_chunks, args.chunk_delay_ms / 1000, args.output_tokens),
        cassettes=cassettes, cassette_seed=args.cassette_seed, db_path=args.db,
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
        # Seeded before the port opens: a client that can connect finds the data there.
        seeded = seed(local.accounts, local.merchant_id) if args.seed else None
        try:
            await web.TCPSite(runner, host, port).start()
            bound = runner.addresses[0]
            url = f"http://{bound[0]}:{bound[1]}"
            print(f"dev-gateway: local Lava on {url} (forward: {url}/v1/forward?u=<provider URL>)",
                  flush=True)
            if generated:
                # A key is printed only when new: this local gateway's own (and --seed's lines).
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
            if seeded is not None:
                _print_seeded(seeded, url, key, generated)
            await stop.wait()
        finally:
            await runner.cleanup()

    uvloop.run(serve())
    print("dev-gateway: stopped", flush=True)
    return 0


def _print_seeded(seeded: Seeded, url: str, key: str, generated: bool) -> None:
    """What ``--seed`` made, and the commands that use it, ready to paste in another shell."""
    # A generated key is this throwaway gateway's own: printed so the lines paste as they are.
    env = (f"export LAVA_GATEWAY_URL={url} LAVA_SECRET_KEY={key}" if generated
           else f"export LAVA_GATEWAY_URL={url}    # and the same LAVA_SECRET_KEY")
    print(f"""dev-gateway: seeded: meter {seeded.meter_slug} ($3.00 per 1M tokens), plan Starter, \
customer {seeded.customer_id} on it with ${seeded.credit_left} of credit
dev-gateway: ready for the quick start; in another shell:
  {env}
  lava-sidecar serve
  curl -s http://127.0.0.1:8787/v1/chat/completions -H 'Content-Type: application/json' \\
       -H 'X-Lava-Customer-Id: {seeded.customer_id}' -H 'X-Lava-Meter: {seeded.meter_slug}' \\
       -d '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}]}}'""", flush=True)
