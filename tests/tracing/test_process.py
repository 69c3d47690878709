"""``lava-sidecar serve`` as a process, configured only by the standard OTEL_* variables: its spans
reach the collector with the resource and export headers asked for, SIGTERM flushes the queue,
and the export header (a vendor key) never appears in the logs or the spans."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai

from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from ..faults.process import sidecar_process
from ..stack import CUSTOMER_HEADERS
from .collector import CLIENT, SERVER, running_collector

COLLECTOR_KEY = "collector-key-7f3a9c"


async def test_serve_with_two_variables_and_sigterm_flushes(tmp_path: Path) -> None:
    async with running_collector() as col, running_gateway(TEST_SECRET) as gw:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": col.url.removesuffix("/v1/traces"),
               "OTEL_SERVICE_NAME": "checkout-api",
               "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
               "OTEL_EXPORTER_OTLP_HEADERS": f"x-collector-key={COLLECTOR_KEY}",
               # Nothing leaves on its own within the test: only the shutdown's flush sends it.
               "OTEL_BSP_SCHEDULE_DELAY": "600000"}
        async with sidecar_process(tmp_path, gw.url, env=env) as sc:
            async with openai.AsyncOpenAI(base_url=sc.url + "/v1", api_key="sk-app-dummy",
                                          default_headers=CUSTOMER_HEADERS, max_retries=0) as c:
                await c.chat.completions.create(model="gpt-4o-mini",
                                                messages=[{"role": "user", "content": "hi"}])
            seen = await gw.last.finished()
            assert col.spans == []
            sc.terminate()
            assert await sc.exit_code(within=20) == 0
        await asyncio.sleep(0)
        [server], [client] = col.by_kind(SERVER), col.by_kind(CLIENT)
        assert server.resource["service.name"] == "checkout-api"
        assert server.resource["deployment.environment"] == "test"
        assert seen.header("traceparent") == f"00-{server.trace_id}-{client.span_id}-01"
        assert [h.get("x-collector-key") for h in col.requests] == [COLLECTOR_KEY]
        [line] = sc.records()
        assert server.attributes["lava.sidecar.request_id"] == line["request_id"]
        assert server.attributes["gen_ai.usage.output_tokens"] == line["output_tokens"]
        assert COLLECTOR_KEY not in "\n".join(sc.stderr)
        assert COLLECTOR_KEY.encode() not in b"".join(col.bodies)
