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
    import logging
    import os

    from .startsignals import StartSignals

    # ``cli.main`` installed these before anything slow; installed here when called otherwise.
    noted: StartSignals = getattr(args, "start_signals", None) or StartSignals.install()
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
        print("Fix what is listed, then `lava-sidecar check-config` checks again.", file=sys.stderr)
        return 2
    configure(settings.logging)
    log = logging.getLogger("lava_sidecar.server")
    noted.report(log)
    if noted.stop is not None:
        # Nothing is open yet: exiting now leaves nothing half-made.
        log.info("%s received while starting: stopped before serving", noted.stop)
        return 0
    from ..bounds.malloc import map_large_allocations

    map_large_allocations()  # RSS follows what is held (a stalled stream's buffers), see there
    # Read again the same way on SIGHUP or when it changes (quotas, identity.api_keys).
    path = args.config or os.environ.get("LAVA_SIDECAR_CONFIG")
    source = ConfigSource(path, tuple(overrides.items())) if path else None
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(serve(settings, source=source, early=noted))
    finally:
        noted.reinstall()  # the loop gave its handlers back to Python's defaults: not those


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (it is a dependency), else asyncio's default."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return None
    return uvloop.new_event_loop
