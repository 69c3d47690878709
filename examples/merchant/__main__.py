"""``python -m examples.merchant``: run the merchant example with one command.

Alone, it starts the whole Lava flow on loopback in this process: the local Lava (``dev-gateway``'s
app), a meter and a plan with a credit bundle created through ``proxy.billing``, the sidecar
pointed at the local Lava, and the example's backend serving the React page (built with esbuild
from the committed lockfile on first run). With ``--lava URL --sidecar URL`` it uses a local Lava
and a sidecar that already run (``LAVA_SECRET_KEY`` is the merchant key), as the demo's
``--keep-running`` does. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from proxy import config as c
from proxy.billing import AsyncLavaClient, BundleSpec
from proxy.config import load_settings
from proxy.emulator.server import running_local_gateway
from proxy.lifecycle import running_sidecar
from proxy.secret import Secret

from .backend import MerchantConfig, create_app

HERE = Path(__file__).resolve().parent
METER_SLUG = "chat-tokens"


def build_page(here: Path = HERE) -> None:
    """``public/bundle.js`` from ``src/`` with esbuild (``npm ci`` first if needed), unless it is
    newer than every source."""
    bundle = here / "public" / "bundle.js"
    sources = [*(here / "src").glob("*.jsx"), here / "package-lock.json"]
    if bundle.exists() and all(bundle.stat().st_mtime >= s.stat().st_mtime for s in sources):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("examples/merchant: npm is needed to build the page (React and "
                         "@lavapayments/checkout, bundled with esbuild)")
    # Fixed argument lists, npm from PATH: nothing here comes from input.
    if not (here / "node_modules" / ".bin" / "esbuild").exists():
        print("examples/merchant: npm ci (once)", file=sys.stderr, flush=True)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S603
                       cwd=here, check=True)
    subprocess.run([npm, "run", "--silent", "build"], cwd=here, check=True)  # noqa: S603


async def seed(lava: AsyncLavaClient, meter_slug: str) -> tuple[str, str]:
    """The merchant's catalog: a meter, and a plan with a credit bundle (plan id, bundle id)."""
    meter = None
    async for m in lava.meters.iter():
        if m.meter_slug == meter_slug:
            meter = m
    if meter is None:
        meter = await lava.meters.create(name="Chat tokens", meter_slug=meter_slug, rate="3.00",
                                         tier_type="tokens_1m")
    plan = await lava.plans.create(
        name="Pro", period_amount="20.00", included_credit="20.00", meter_ids=[meter.meter_id],
        credit_bundles=[BundleSpec(name="Top-up $10", cost="10.00", credit_amount="10.00")])
    return plan.plan_id, plan.credit_bundles[0].credit_bundle_id


@contextlib.asynccontextmanager
async def serving(app: web.Application, port: int) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        host, bound = runner.addresses[0][:2]
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()


def _sidecar_settings(key: Secret, gateway_url: str, tmp: Path) -> c.Settings:
    settings = load_settings(None, {"LAVA_SECRET_KEY": key.reveal(),
                                    "LAVA_GATEWAY_URL": gateway_url})
    return dataclasses.replace(
        settings, usage_log=c.UsageLog(path=str(tmp / "usage.jsonl"), replay_on_start=False),
        shutdown=c.Shutdown(grace=2.0, drain_delay=0.0))


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run(args: argparse.Namespace) -> int:
    given = os.environ.get("LAVA_SECRET_KEY", "").strip()
    key = Secret(given or "aks_test_" + secrets.token_hex(16))
    async with contextlib.AsyncExitStack() as stack:
        if args.lava is None:
            gateway = await stack.enter_async_context(running_local_gateway(key))
            lava_url = gateway.url
        else:
            lava_url = args.lava.rstrip("/")
        lava = await stack.enter_async_context(AsyncLavaClient(base_url=lava_url, secret_key=key))
        plan_id, bundle_id = ((args.plan_id, args.bundle_id) if args.plan_id
                              else await seed(lava, args.meter_slug))
        if args.sidecar is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="merchant-")))
            sidecar = await stack.enter_async_context(
                running_sidecar(_sidecar_settings(key, lava_url, tmp)))
            sidecar_url = sidecar.url
        else:
            sidecar_url = args.sidecar.rstrip("/")
        cfg = MerchantConfig(lava_url, key, sidecar_url, plan_id, args.meter_slug, bundle_id,
                             HERE / "public")
        url = await stack.enter_async_context(serving(create_app(cfg), args.port))
        print(f"merchant example: {url}/  (Subscribe, pay in Lava's checkout, then send a prompt)",
              flush=True)
        print(f"local Lava dashboard: {lava_url}/", flush=True)
        print(f"sidecar: {sidecar_url}", flush=True)
        if not given:
            print(f"this run's throwaway key for the local Lava: LAVA_SECRET_KEY={key.reveal()}",
                  flush=True)
        await _until_stopped()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.merchant", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lava", metavar="URL", help="a running local Lava (default: start one)")
    parser.add_argument("--sidecar", metavar="URL",
                        help="a running sidecar's proxy URL (default: start one)")
    parser.add_argument("--port", type=int, default=0, help="the page's port (default: free)")
    parser.add_argument("--plan-id", help="sell this plan (default: create Pro, $20/month)")
    parser.add_argument("--bundle-id", help="the plan's credit bundle for top-ups")
    parser.add_argument("--meter-slug", default=METER_SLUG, help="the meter prompts are billed on")
    args = parser.parse_args(argv)
    build_page()
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
