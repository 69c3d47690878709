"""``lava-sidecar reconcile`` as a merchant runs it: demo-like traffic (the official SDKs, streaming
and not, a client walking away mid-stream, a customer refused with 402) through a real sidecar in
front of the local Lava, then the command in a real subprocess against that Lava: exit 0; one
altered usage-log line: exit 1 naming the request; rotated and gzipped files: still 0; Lava
unreachable or bad arguments: 2 with a sentence, never a traceback or the key."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from proxy import config as c
from proxy.billing import AsyncLavaClient
from proxy.emulator.providers import Pacing
from proxy.emulator.server import RunningGateway, running_local_gateway
from proxy.lifecycle import running_sidecar

from ..conftest import TEST_SECRET
from ..stack import stack_settings

REPO = Path(__file__).resolve().parents[2]
METER = "chat-tokens"
RATE = "3.00"


@dataclass(slots=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def reconcile(*args: str, gateway: str | None, key: str | None = TEST_SECRET) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    if gateway is not None:
        env["LAVA_GATEWAY_URL"] = gateway
    if key is not None:
        env["LAVA_SECRET_KEY"] = key
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "reconcile", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def plainly(run: Run) -> None:
    """What a failed run says: a sentence, no traceback, never the key."""
    assert "Traceback" not in run.stderr + run.stdout
    assert TEST_SECRET not in run.stderr + run.stdout
    assert run.stderr.strip().splitlines()[-1].startswith(("reconcile: ", "usage: ")) or \
        "error:" in run.stderr


async def _customer(lava: AsyncLavaClient, plan_id: str, phone: str) -> str:
    session = await lava.checkout_sessions.create(plan_id=plan_id)
    done = await lava.checkout_sessions.complete_local(session.checkout_session_id, phone=phone)
    assert done.customer_id is not None
    return done.customer_id


def headers(customer: str) -> dict[str, str]:
    return {"X-Lava-Customer-Id": customer, "X-Lava-Meter": METER}


async def traffic(url: str, customer: str) -> None:
    msgs: Any = [{"role": "user", "content": f"hello from {customer}"}]
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0,
                                  default_headers=headers(customer)) as o:
        await o.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        async for _ in await o.chat.completions.create(model="gpt-4o-mini", messages=msgs,
                                                       stream=True):
            pass
    async with anthropic.AsyncAnthropic(base_url=url + "/anthropic", api_key="x", max_retries=0,
                                        default_headers=headers(customer)) as a:
        await a.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=msgs)
        async with a.messages.stream(model="claude-haiku-4-5", max_tokens=12, messages=msgs) as s:
            await s.get_final_message()


async def walk_away(url: str, customer: str) -> None:
    """A client that reads the first event of a stream and leaves: a ``partial`` line."""
    body = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"cut"}]}'
    async with aiohttp.ClientSession() as http:
        resp = await http.post(url + "/v1/chat/completions", data=body,
                               headers={**headers(customer), "Content-Type": "application/json"})
        await resp.content.readuntil(b"\n\n")
        resp.close()


async def until_refused(url: str, customer: str) -> None:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0,
                                  default_headers=headers(customer)) as o:
        for _ in range(30):
            try:
                await o.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "more"}])
            except openai.APIStatusError as exc:
                status = exc.status_code
                break
        else:
            raise AssertionError("the trial customer's credit never ran out")
    assert status == 402


@dataclass(slots=True)
class Served:
    gateway: RunningGateway
    log: Path
    customers: list[str]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with running_local_gateway(TEST_SECRET, pacing=Pacing(chunks=4, delay=0.05)) as gw:
        async with AsyncLavaClient(base_url=gw.url, secret_key=TEST_SECRET) as lava:
            meter = await lava.meters.create(name="Chat", meter_slug=METER, rate=RATE)
            pro = await lava.plans.create(name="Pro", period_amount="20",
                                          meter_ids=[meter.meter_id])
            trial = await lava.plans.create(name="Trial", period_amount="0.0002",
                                            meter_ids=[meter.meter_id])
            alice = await _customer(lava, pro.plan_id, "+15555550101")
            bob = await _customer(lava, pro.plan_id, "+15555550102")
            carol = await _customer(lava, trial.plan_id, "+15555550103")
        price = c.MeterPrice(METER, "tokens_1m", (c.Tier(Decimal(0), Decimal(RATE)),))
        settings = dataclasses.replace(stack_settings(gw.url, tmp_path), meters=(price,))
        async with running_sidecar(settings) as sidecar:
            await asyncio.gather(traffic(sidecar.url, alice), traffic(sidecar.url, bob),
                                 walk_away(sidecar.url, bob))
            await until_refused(sidecar.url, carol)
            await asyncio.sleep(0.3)  # the walked-away stream is recorded as its handler unwinds
        # The sidecar is closed: its usage log is written and synced.
        yield Served(gw, tmp_path / "usage.jsonl", [alice, bob, carol])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def write(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs))


async def test_reconcile_agrees_then_names_the_altered_request(served: Served) -> None:
    url, log = served.gateway.url, served.log
    docs = lines(log)
    assert any(d["partial"] for d in docs)
    assert any(d["status"] == 402 for d in docs)

    ok = await reconcile("--usage-log", str(log), gateway=url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "The sidecar's numbers agree with what Lava billed." in ok.stdout
    for customer in served.customers:
        assert customer in ok.stdout
    assert "usage-log lines read" in ok.stderr  # progress goes to stderr

    doc = (await reconcile("--usage-log", str(log), "--json", gateway=url)).json()
    assert doc["agree"] is True
    assert doc["disagreements"] == []
    assert doc["refused_by_lava"] >= 1
    billed = [d for d in docs if d["lava_request_id"] and d["status"] != 402]
    assert doc["matched"] + sum(1 for x in doc["expected_disagreements"]
                                if x["lava"] is None) == len(billed)
    assert all(g["agree"] for g in doc["groups"])
    # Only the walked-away stream's customer has sums that differ, explained by its partial line.
    assert [g["customer"] for g in doc["groups"] if not g["sums_equal"]] in (
        [], [served.customers[1]])
    assert {g["customer"] for g in doc["groups"]} == set(served.customers)
    assert all(x["kind"] == "partial" for x in doc["expected_disagreements"])

    # One line altered by a token: exit 1, naming that request.
    victim = next(i for i, d in enumerate(docs) if not d["partial"] and d["output_tokens"])
    altered = [dict(d) for d in docs]
    altered[victim]["output_tokens"] += 1
    write(log, altered)
    bad = await reconcile("--usage-log", str(log), gateway=url)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    rid = docs[victim]["lava_request_id"]
    named = [x for x in bad.stdout.splitlines() if rid in x]
    assert named, bad.stdout
    assert "tokens differ" in named[0], bad.stdout
    assert "DISAGREE" in bad.stdout
    # Within a tolerance of one token it agrees again.
    assert (await reconcile("--usage-log", str(log), "--tolerance-tokens", "1",
                            gateway=url)).returncode == 0

    # A line gone: Lava billed a request the sidecar never recorded.
    write(log, docs[:victim] + docs[victim + 1:])
    gone = (await reconcile("--usage-log", str(log), "--json", gateway=url))
    assert gone.returncode == 1
    assert [(x["kind"], x["lava_request_id"]) for x in gone.json()["disagreements"]] == [
        ("not_recorded_by_sidecar", rid)]


async def test_rotated_and_gzipped_files_read_as_one_log(served: Served) -> None:
    url, log = served.gateway.url, served.log
    before = (await reconcile("--usage-log", str(log), "--json", gateway=url)).json()
    raw = log.read_bytes().splitlines(keepends=True)
    third = len(raw) // 3
    (log.parent / "usage.jsonl.2.gz").write_bytes(gzip.compress(b"".join(raw[:third])))
    (log.parent / "usage.jsonl.1").write_bytes(b"".join(raw[third:2 * third]))
    log.write_bytes(b"".join(raw[2 * third:]))
    run = await reconcile("--usage-log", str(log), "--json", gateway=url)
    assert run.returncode == 0, run.stdout + run.stderr
    after = run.json()
    assert len(after["inputs"]["usage_log_files"]) == 3
    assert (after["matched"], after["groups"]) == (before["matched"], before["groups"])
    # Only one customer: Lava's list is filtered too, so nothing else shows as unrecorded.
    alice = served.customers[0]
    one = await reconcile("--usage-log", str(log), "--customer", alice, "--json", gateway=url)
    assert one.returncode == 0, one.stdout
    assert [g["customer"] for g in one.json()["groups"]] == [alice]
    # A window before any traffic holds nothing: agreement, trivially.
    empty = await reconcile("--usage-log", str(log), "--until", "2020-01-01", gateway=url)
    assert empty.returncode == 0
    assert "No requests in the window" in empty.stdout


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_could_not_run_is_exit_2_with_a_sentence(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text("")
    down = await reconcile("--usage-log", str(log), gateway=f"http://127.0.0.1:{closed_port()}")
    assert down.returncode == 2
    assert "cannot reach Lava at http://127.0.0.1:" in down.stderr
    plainly(down)
    as_json = await reconcile("--usage-log", str(log), "--json",
                              gateway=f"http://127.0.0.1:{closed_port()}")
    assert as_json.returncode == 2
    assert as_json.json()["agree"] is None
    assert as_json.json()["error"].startswith("cannot reach Lava")

    nokey = await reconcile("--usage-log", str(log), gateway="http://127.0.0.1:9", key=None)
    assert nokey.returncode == 2
    assert "no Lava secret key: set LAVA_SECRET_KEY" in nokey.stderr
    plainly(nokey)

    missing = await reconcile("--usage-log", str(tmp_path / "nope.jsonl"), gateway="http://x")
    assert missing.returncode == 2
    assert "nope.jsonl: no such file" in missing.stderr
    plainly(missing)

    for args, says in ((("--since", "yesterday"), "ISO 8601"),
                       (("--tolerance-tokens", "-3"), "whole number"),
                       (("--since", "2026-12-02", "--until", "2026-12-01"), "before --until"),
                       ((), "--usage-log")):
        run = await reconcile(*(("--usage-log", str(log)) if args else ()), *args,
                              gateway="http://127.0.0.1:9")
        assert run.returncode == 2, (args, run.stderr)
        assert says in run.stderr, (args, run.stderr)
        plainly(run)
