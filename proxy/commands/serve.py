"""``lava-sidecar serve``: run the metering proxy."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

HELP = """Run the metering proxy (and its admin listener).

Point your SDKs at it:
  OPENAI_BASE_URL=http://127.0.0.1:8787/v1
  ANTHROPIC_BASE_URL=http://127.0.0.1:8787/anthropic
and send X-Lava-Customer-Id: <Lava customer id> with each request.
Admin (Prometheus and probes): http://<pod>:9464/metrics /healthz /readyz /usage"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $LAVA_SIDECAR_CONFIG, else built-in defaults)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="proxy listener (default 127.0.0.1:8787)")
    parser.add_argument("--admin-listen", metavar="HOST:PORT", help="admin listener (default 0.0.0.0:9464)")


def run(args: argparse.Namespace) -> int:
    import os

    from ..config import load_settings
    from ..config.watch import ConfigSource
    from ..errors import ConfigError
    from ..lifecycle import serve
    from ..logs import configure

    overrides = {k: v for k, v in (("listen", args.listen), ("admin_listen", args.admin_listen)) if v}
    try:
        settings = load_settings(args.config, overrides=overrides)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        print("Run `lava-sidecar check-config` after fixing them.", file=sys.stderr)
        return 2
    configure(settings.logging)
    # Read again the same way on SIGHUP or when it changes (quotas, identity.api_keys).
    path = args.config or os.environ.get("LAVA_SIDECAR_CONFIG")
    source = ConfigSource(path, tuple(overrides.items())) if path else None
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(serve(settings, source=source))


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (it is a dependency), else asyncio's default."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return None
    return uvloop.new_event_loop
