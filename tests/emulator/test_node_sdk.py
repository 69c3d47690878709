"""Lava's official Node SDK (``@lavapayments/nodejs``, a client no one here wrote) against a real
``lava-sidecar dev-gateway`` process: meters, plans, bundles, checkout, customers, subscriptions,
forward tokens and gateway calls, ``usage.retrieve`` from years back, ``requests.list``, webhooks
and secret keys all succeed (tests/node/lava_sdk_conformance.cjs). The SDK's forward tokens are
read by the sidecar's decoder, and are byte for byte what the sidecar mints; a sidecar-minted
token is accepted by the gateway on the SDK's provider URL.

Needs ``node``; skipped only when it is absent. The SDK is installed into tests/node by
``.ci/run`` (``npm ci``); when it is missing the test installs it the same way, and fails loudly
if it cannot.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.billing import AsyncLavaClient
from proxy.secret import Secret
from proxy.tokens import Billing, decode, mint

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "tests" / "node"
SCRIPT = NODE_DIR / "lava_sdk_conformance.cjs"
SDK = NODE_DIR / "node_modules" / "@lavapayments" / "nodejs" / "package.json"
KEY = "aks_test_nodesdk0123456789abcdef"

pytestmark = pytest.mark.external


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the Node SDK conformance test needs it (.ci/run)")
    if not SDK.exists():
        npm = shutil.which("npm") or str(Path(found).with_name("npm"))
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR)],
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not SDK.exists():
            pytest.fail("node is installed but @lavapayments/nodejs is not, and `npm ci --prefix "
                        f"tests/node` failed:\n{done.stdout}\n{done.stderr}")
    return found


@pytest.fixture
async def dev_gateway() -> AsyncIterator[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LAVA_")},
           "LAVA_SECRET_KEY": KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "dev-gateway", "--listen", "127.0.0.1:0", cwd=REPO,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        url = None
        async with asyncio.timeout(30):
            while url is None:
                line = (await proc.stdout.readline()).decode()
                assert line, "dev-gateway exited before it was listening"
                found = re.search(r"local Lava on (http://\S+)", line)
                url = found.group(1) if found else None
        yield url
    finally:
        proc.terminate()
        await proc.wait()


async def test_the_node_sdk_works_against_dev_gateway(dev_gateway: str) -> None:
    binary = node()
    # A customer made with our own client: the sidecar's token for them goes through the SDK's URL.
    async with AsyncLavaClient(base_url=dev_gateway, secret_key=KEY) as lava:
        meter = await lava.meters.create(name="Sidecar meter", meter_slug="sidecar.Meter_1",
                                         rate="1.00")
        plan = await lava.plans.create(name="Sidecar plan", period_amount="10",
                                       meter_ids=[meter.meter_id])
        session = await lava.checkout_sessions.create(plan_id=plan.plan_id)
        done = await lava.checkout_sessions.complete_local(session.checkout_session_id,
                                                           phone="+15555550199")
        assert done.customer_id is not None
        ours = done.customer_id
        sidecar_token = mint(Secret(KEY), Billing(ours, meter.meter_slug))

        proc = await asyncio.create_subprocess_exec(
            binary, str(SCRIPT), cwd=NODE_DIR,
            env={"PATH": os.environ.get("PATH", ""), "LAVA_BASE_URL": dev_gateway + "/v1/",
                 "LAVA_SECRET_KEY": KEY, "SIDECAR_TOKEN": sidecar_token},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert out, err.decode()
        doc = json.loads(out.decode().strip().splitlines()[-1])
        assert proc.returncode == 0, (doc.get("failed"), doc.get("error"), err.decode())
        assert "usage.retrieve (a start years back)" in doc["steps"]
        assert "requests.list" in doc["steps"]
        assert len(doc["steps"]) >= 25

        # The request made with the sidecar's token is billed to our customer, on our meter.
        record = await lava.requests.get(doc["sidecar_token_request_id"])
        assert record.customer_id == ours
        assert record.meter_id == meter.meter_id

    # The SDK's tokens, read by the sidecar's decoder, and minted by the sidecar identically.
    cid, slug, t = doc["customer_id"], doc["meter_slug"], doc["tokens"]
    secret = Secret(KEY)
    cases = {
        "customer": (Billing(cid, slug), (cid, slug, None, False)),
        "merchant": (Billing(None, None), (None, None, None, False)),
        "disabled": (Billing(cid, slug, disable_billing=True), (cid, slug, None, True)),
        "byok": (Billing(cid, slug, provider_key=Secret("sk-own-key")),
                 (cid, slug, "sk-own-key", False)),
    }
    for name, (billing, want) in cases.items():
        got = decode(t[name])
        assert got.secret_key == secret, name
        assert (got.customer_id, got.meter_slug,
                got.provider_key.reveal() if got.provider_key else None,
                got.disable_billing) == want, name
        assert got.format == "current", name
        assert mint(secret, billing) == t[name], name
    # The SDK writes customer_id: null for meter-only billing; the decoder takes it as absent.
    meter_only = decode(t["meter_only"])
    assert (meter_only.customer_id, meter_only.meter_slug) == (None, slug)
