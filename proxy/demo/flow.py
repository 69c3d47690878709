"""The demo's script: seed a local Lava through ``proxy.billing``, send SDK traffic through the
sidecar, then reconcile what the sidecar measured with what the gateway billed: per customer from
``/usage`` beside Lava's ``/usage``, then request by request with ``lava-sidecar reconcile``."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import anthropic
import httpx
import openai

from .. import config as c
from ..billing import AsyncLavaClient, BundleSpec
from ..config import load_settings
from ..emulator.providers import Pacing
from ..emulator.server import RunningGateway, running_local_gateway
from ..lifecycle import Sidecar, running_sidecar
from ..money import usd
from ..reconcile import Window
from ..reconcile.sources import audit
from ..secret import Secret
from .merchant import Merchant, running_merchant

METER_SLUG = "chat-tokens"
RATE = "3.00"  # USD per 1M tokens (input + output)
PEOPLE = (("Alice", "Pro"), ("Bob", "Pro"), ("Carol", "Trial"))
_TEN = Decimal("0.0000000001")


@dataclass(slots=True)
class Row:
    name: str
    plan: str
    customer_id: str
    requests: int = 0
    refused: str | None = None  # Lava's 402 message, when credit ran out


def _headers(customer_id: str) -> dict[str, str]:
    return {"X-Lava-Customer-Id": customer_id, "X-Lava-Meter": METER_SLUG}


@dataclass(frozen=True, slots=True)
class Seeded:
    rows: list[Row]
    #: What the merchant example sells with --keep-running: Pro and its credit bundle.
    plan_id: str
    bundle_id: str | None


async def _seed(lava: AsyncLavaClient) -> Seeded:
    """meter → plans → a completed checkout per person (what the hosted checkout would do)."""
    meter = await lava.meters.create(name="Chat tokens", meter_slug=METER_SLUG, rate=RATE,
                                     tier_type="tokens_1m")
    top_up = BundleSpec(name="Top-up $10", cost="10.00", credit_amount="10.00")
    plans = {
        "Pro": await lava.plans.create(name="Pro", period_amount="20.00", included_credit="20.00",
                                       meter_ids=[meter.meter_id], credit_bundles=[top_up]),
        # A sliver of credit, so Carol runs out after a few requests.
        "Trial": await lava.plans.create(name="Trial", period_amount="0.00015",
                                         included_credit="0.00015", meter_ids=[meter.meter_id]),
    }
    rows = []
    for i, (name, plan) in enumerate(PEOPLE):
        session = await lava.checkout_sessions.create(plan_id=plans[plan].plan_id)
        done = await lava.checkout_sessions.complete_local(
            session.checkout_session_id, phone=f"+1555010{i:04d}", email=f"{name.lower()}@example.com",
            first_name=name)
        if done.customer_id is None:
            raise RuntimeError(f"the checkout for {name} completed without a customer id")
        rows.append(Row(name, plan, done.customer_id))
    pro = plans["Pro"]
    return Seeded(rows, pro.plan_id,
                  pro.credit_bundles[0].credit_bundle_id if pro.credit_bundles else None)


async def _openai(url: str, row: Row) -> None:
    msgs: Any = [{"role": "user", "content": f"Hello, I am {row.name}."}]
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="app-placeholder-key",
                                  default_headers=_headers(row.customer_id)) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        async for _ in await client.chat.completions.create(model="gpt-4o-mini", messages=msgs,
                                                            stream=True):
            pass
    row.requests += 2


async def _anthropic(url: str, row: Row) -> None:
    msgs: Any = [{"role": "user", "content": f"Hi, {row.name} here."}]
    async with anthropic.AsyncAnthropic(base_url=url + "/anthropic", api_key="app-placeholder-key",
                                        default_headers=_headers(row.customer_id)) as client:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=24, messages=msgs)
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=24,
                                          messages=msgs) as stream:
            await stream.get_final_message()
    row.requests += 2


async def _gemini(url: str, row: Row) -> None:
    """Google's native API as google-genai sends it (/gemini/v1/…?alt=sse); thinking is billed."""
    body = {"contents": [{"role": "user", "parts": [{"text": f"Hi, {row.name} again."}]}]}
    async with httpx.AsyncClient(base_url=url + "/gemini", headers=_headers(row.customer_id)) as http:
        resp = await http.post("/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse", json=body)
        resp.raise_for_status()
    row.requests += 1


async def _until_refused(url: str, row: Row, limit: int = 20) -> None:
    """Carol keeps asking until Lava refuses: 402 before the provider is called."""
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="app-placeholder-key", max_retries=0,
                                  default_headers=_headers(row.customer_id)) as client:
        for _ in range(limit):
            row.requests += 1
            try:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "One more, please."}])
            except openai.APIStatusError as exc:
                if exc.status_code != 402:
                    raise
                error = exc.body.get("message") if isinstance(exc.body, dict) else None
                row.refused = str(error or exc.message)
                return


#: The table's columns: (group heading, heading, right-aligned). Headings name units once.
COLUMNS = (("", "customer", False), ("", "plan", False), ("", "requests", True),
           ("tokens", "sidecar", True), ("tokens", "Lava", True),
           ("charge, USD", "sidecar", True), ("charge, USD", "Lava", True),
           ("credit left", "USD", True), ("", "", False))


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns that read as columns: a group heading centred over its columns, then a heading
    over each, every cell aligned under its heading (numbers to the right)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (_, h, _) in enumerate(COLUMNS)]
    spans: list[tuple[str, list[int]]] = []  # each run of columns under one group heading
    for i, (group, _, _) in enumerate(COLUMNS):
        if group and spans and spans[-1][0] == group:
            spans[-1][1].append(i)
        else:
            spans.append((group, [i]))
    for group, cols in spans:  # a heading wider than its columns widens the last of them
        span = sum(widths[i] for i in cols) + 2 * (len(cols) - 1)
        widths[cols[-1]] += max(0, len(group) - span)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if right else c.ljust(w)
                         for c, w, (_, _, right) in zip(cells, widths, COLUMNS, strict=True)).rstrip()

    top = "  ".join(group.center(sum(widths[i] for i in cols) + 2 * (len(cols) - 1),
                                 "-" if len(cols) > 1 else " ")
                    for group, cols in spans).rstrip()
    head = line(tuple(h for _, h, _ in COLUMNS))
    return [top, head, "-" * len(head), *(line(r) for r in rows)]


async def _report(lava: AsyncLavaClient, sidecar: Sidecar, rows: list[Row],
                  out: TextIO) -> bool:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    totals: Any = sidecar.recorder.totals.snapshot()["customers"]
    agree = True
    cells: list[tuple[str, ...]] = []
    for row in rows:
        mine = totals.get(row.customer_id, {}).get("total", {})
        token_count = int(mine.get("input_tokens", 0)) + int(mine.get("output_tokens", 0))
        # null: no price for the meter. Lava billed something, so that is a disagreement.
        raw = mine.get("charge_usd")
        charge = None if raw is None else Decimal(str(raw)).quantize(_TEN)
        billed = (await lava.usage.get(start=today, customer_id=row.customer_id)).totals
        credit = (await lava.customers.subscription(row.customer_id))
        left = credit.credits.total_remaining if credit is not None else Decimal(0)
        same = token_count == billed.total_usage_tokens and charge == billed.total_charge.quantize(_TEN)
        agree &= same
        cells.append((row.name, row.plan, str(row.requests), str(token_count),
                      str(billed.total_usage_tokens), "null" if charge is None else usd(charge),
                      usd(billed.total_charge), usd(left), "agree" if same else "DIFFER"))
    for text in table(cells):
        print(text, file=out)
    for row in rows:
        if row.refused:
            print(f"\n{row.name}'s credit ran out: request {row.requests} was refused by Lava with "
                  f"402 through the sidecar: {row.refused!r}", file=out)
    return agree


async def _durable(sidecar: Sidecar, requests: int) -> None:
    """Until every request is recorded and its usage-log line written and synced (bounded)."""
    recorder = sidecar.recorder
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while loop.time() < deadline:
        ledger = recorder.ledger
        if recorder.totals.records >= requests and (ledger is None or ledger.pending == 0):
            return
        await asyncio.sleep(0.02)


async def _reconcile(gateway: RunningGateway, secret: Secret, usage_log: str, since: float,
                     out: TextIO) -> bool:
    """``lava-sidecar reconcile`` over this run's usage log: every request joined with Lava's."""
    report, _ = await asyncio.to_thread(audit, [usage_log], Window(since, None),
                                        base_url=gateway.url, secret_key=secret)
    print(f"\nlava-sidecar reconcile --usage-log {Path(usage_log).name}: {report.matched} "
          f"requests matched with Lava's records, {len(report.disagreements)} disagree"
          + (f", {report.refused_by_lava} refused by Lava before billing"
             if report.refused_by_lava else "") + ".", file=out)
    for f in report.disagreements:
        print(f"  {f.lava_request_id}: {f.kind.sentence}", file=out)
    return report.agrees


def _settings(secret: Secret, gateway_url: str, tmp: Path, port: int) -> c.Settings:
    # No ``meters:``: the sidecar lists the prices from (local) Lava, as it would from Lava.
    settings = load_settings(None, {"LAVA_SECRET_KEY": secret.reveal(), "LAVA_GATEWAY_URL": gateway_url})
    return dataclasses.replace(
        settings, listen=c.Listen("127.0.0.1", port),
        usage_log=c.UsageLog(path=str(tmp / "usage.jsonl"), replay_on_start=False),
        shutdown=c.Shutdown(grace=5.0, drain_delay=0.0))


async def _prices_listed(sidecar: Sidecar, within: float = 10.0) -> None:
    """Readiness never waits for the price catalog; the demo's first request does."""
    prices = sidecar.app.prices
    if prices is None:
        raise RuntimeError("the demo needs pricing.from_lava")
    async with asyncio.timeout(within):
        await prices.loaded.wait()


async def run_demo(*, keep_running: bool, port: int, out: TextIO) -> int:
    secret = Secret("aks_test_" + secrets.token_hex(16))  # a throwaway key for this run only
    with tempfile.TemporaryDirectory(prefix="lava-demo-") as tmp:
        async with running_local_gateway(secret, pacing=Pacing(chunks=8, delay=0.01)) as gateway, \
                AsyncLavaClient(base_url=gateway.url, secret_key=secret) as lava:
            # The merchant's meters exist in Lava before the sidecar starts and lists them.
            seeded = await _seed(lava)
            async with running_sidecar(_settings(secret, gateway.url, Path(tmp), port),
                                       port=port if keep_running else 0) as sidecar:
                print(f"local Lava gateway on {gateway.url}, sidecar on {sidecar.url}\n", file=out)
                await _prices_listed(sidecar)
                listed = len(sidecar.app.prices.rates) if sidecar.app.prices else 0
                pinned = len(sidecar.settings.meters)
                print(f"prices: {listed} meter{'s' if listed != 1 else ''} listed from the local "
                      f"Lava, {pinned} in the sidecar's config\n", file=out)
                return await _traffic(gateway, sidecar, lava, secret, seeded, keep_running,
                                      out)


async def _traffic(gateway: RunningGateway, sidecar: Sidecar, lava: AsyncLavaClient,
                   secret: Secret, seeded: Seeded, keep_running: bool, out: TextIO) -> int:
    began = time.time()
    rows = seeded.rows
    alice, bob, carol = rows
    await asyncio.gather(_openai(sidecar.url, alice), _anthropic(sidecar.url, alice),
                         _openai(sidecar.url, bob), _anthropic(sidecar.url, bob),
                         _gemini(sidecar.url, bob))
    await _until_refused(sidecar.url, carol)
    # The last response's usage is recorded as its handler unwinds, then written.
    await _durable(sidecar, sum(r.requests for r in rows))
    agree = await _report(lava, sidecar, rows, out)
    usage_log = sidecar.settings.usage_log.path
    if usage_log is not None:
        agree &= await _reconcile(gateway, secret, usage_log, began - 1, out)
    print("\nThe sidecar's numbers agree with what Lava billed." if agree else
          "\nThe sidecar and the gateway DISAGREE: this is a bug, please report it.", file=out)
    if keep_running:
        async with running_merchant(gateway.url, sidecar.url, secret, seeded.plan_id,
                                    seeded.bundle_id) as merchant:
            _print_urls(gateway, sidecar, secret, rows, merchant, out)
            await _until_stopped()
    print(f"\nWhat Lava billed, in the local Lava's dashboard: {gateway.url}/\n(it stops with "
          "the demo; lava-sidecar demo --keep-running keeps it, the sidecar and the merchant "
          "example up)", file=out)
    if not keep_running:  # the natural next step, in the form `make demo` users type (issue 23)
        print("\nNext: make demo DEMO_ARGS=--keep-running keeps them up and prints curl commands "
              "for the sidecar, its /usage and /metrics URLs and the merchant example's page.",
              file=out)
    return 0 if agree else 1


async def _until_stopped() -> None:
    """Until Ctrl-C or SIGTERM: either way the merchant example's process is stopped too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _print_urls(gateway: RunningGateway, sidecar: Sidecar, secret: Secret, rows: list[Row],
                merchant: Merchant, out: TextIO) -> None:
    alice = rows[0].customer_id
    shop = merchant.note + ("   (Subscribe with Lava's checkout, then prompt through the "
                            "sidecar)" if merchant.url else "")
    print(f"""
Still running (Ctrl-C to stop):
  local Lava dashboard: {gateway.url}/   (customers, requests, usage per day, meters, plans)
  {shop}
  sidecar: {sidecar.url}   local Lava: {gateway.url}

Try the sidecar by hand:
  export OPENAI_BASE_URL={sidecar.url}/v1
  export ANTHROPIC_BASE_URL={sidecar.url}/anthropic
  curl -s {sidecar.url}/v1/chat/completions -H 'Content-Type: application/json' \\
       -H 'X-Lava-Customer-Id: {alice}' -H 'X-Lava-Meter: {METER_SLUG}' \\
       -d '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}]}}'
  curl -s {sidecar.admin_url}/usage            # per-customer totals
  curl -s {sidecar.admin_url}/metrics          # Prometheus
  LAVA_GATEWAY_URL={gateway.url} LAVA_SECRET_KEY=<below> lava-sidecar billing usage --customer {alice}
This run's throwaway test key for the local gateway: {secret.reveal()}""", file=out)
