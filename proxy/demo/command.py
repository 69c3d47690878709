"""``lava-sidecar demo``: the whole Lava flow on loopback, no account and no network.

A local Lava gateway and the sidecar start in this process; a meter ($3 per 1M tokens) and plans
are created through ``proxy.billing``; checkouts complete for three customers; the official
``openai`` and ``anthropic`` SDKs send traffic through the sidecar (streaming and not); then a
table shows, per customer, what the sidecar measured beside what the gateway billed, and the
credit left. The third customer's credit runs out and Lava's 402 comes back through the sidecar.
"""

from __future__ import annotations

import argparse
import sys

HELP = """Run the whole Lava billing flow locally and print what each customer used and paid.

Starts a local Lava gateway and the sidecar on loopback, creates a meter and plans, completes a
checkout for three customers, sends OpenAI and Anthropic SDK traffic through the sidecar, and
compares the sidecar's numbers with what the gateway billed. Exits 0 when they agree.
--keep-running leaves both up and prints the URLs to try by hand."""

METER_SLUG = "chat-tokens"
RATE = "3.00"  # USD per 1M tokens


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the gateway and sidecar running and print how to use them")
    parser.add_argument("--port", type=int, default=0, metavar="N",
                        help="sidecar proxy port with --keep-running (default: a free one)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    try:
        from .flow import run_demo
    except ModuleNotFoundError as exc:
        if exc.name not in ("openai", "anthropic"):
            raise
        print(f"lava-sidecar demo drives the sidecar with the official SDKs; {exc.name} is not "
              "installed: pip install 'lava-sidecar[demo]'", file=sys.stderr)
        return 2
    from ..commands.serve import loop_factory

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        try:
            return runner.run(run_demo(keep_running=args.keep_running, port=args.port,
                                       out=sys.stdout))
        except KeyboardInterrupt:
            return 0
