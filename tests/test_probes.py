"""Connectivity probes (issue 12): a HEAD or GET of a provider's base path answers 200 with no body,
through a real sidecar, at the base URL each SDK is configured with; nothing reaches Lava and
nothing is recorded."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from proxy.config import load_settings
from proxy.routing import Router

from .conftest import TEST_SECRET
from .inbound.wire import at_eof, connect, read_reply, send
from .stack import CUSTOMER_HEADERS, Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_stack(tmp_path) as s:
        yield s


def sdk_base_urls(stack: Stack) -> list[str]:
    """The base URLs as the SDKs hold them once configured the way the README says."""
    urls = []
    with anthropic.Anthropic(base_url=stack.url + "/anthropic", api_key="x") as c:
        urls.append(str(c.base_url))
    for root in ("/v1", "/openai/v1", "/groq/v1"):
        with openai.OpenAI(base_url=stack.url + root, api_key="x") as o:
            urls.append(str(o.base_url))
    return urls


async def test_head_and_get_of_each_sdk_base_url_answer_200_empty_and_call_nothing(stack: Stack) -> None:
    urls = sdk_base_urls(stack)
    assert urls[0].endswith("/anthropic/")  # what Claude Code's HEAD probe asks for
    async with httpx.AsyncClient() as http:
        for url in urls:
            for target in (url, url.rstrip("/")):
                for method in ("HEAD", "GET"):
                    resp = await http.request(method, target)
                    assert (resp.status_code, resp.content) == (200, b""), (method, target)
                    assert resp.headers["content-length"] == "0"
        # Below a base it is an API call again: /v1/models reaches Lava.
        assert (await http.get(urls[1] + "models", headers=CUSTOMER_HEADERS)).status_code == 200
    assert [s.url for s in stack.gateway.seen] == ["https://api.openai.com/v1/models"]
    await stack.running.shutdown()  # flushes the usage log
    assert [line["api"] for line in stack.log_lines()] == ["models"]  # the probes left no record


async def test_probe_on_a_kept_alive_connection_then_a_real_request(stack: Stack) -> None:
    async with connect(int(stack.url.rsplit(":", 1)[1])) as (reader, writer):
        await send(writer, b"HEAD /anthropic HTTP/1.1\r\nHost: sidecar\r\n\r\n"
                           b"GET /v1 HTTP/1.1\r\nHost: sidecar\r\n\r\n"
                           b"GET /anthropic/v1/models HTTP/1.1\r\nHost: sidecar\r\n"
                           b"X-Lava-Customer-Id: cus_alpha\r\nX-Lava-Meter: chat-tokens\r\n"
                           b"Connection: close\r\n\r\n")
        head = await read_reply(reader, method="HEAD")
        get = await read_reply(reader)
        models = await read_reply(reader)
        assert await at_eof(reader)
    assert (head.status, head.get("Content-Length"), get.status, get.body) == (200, "0", 200, b"")
    assert models.status == 200
    assert [s.url for s in stack.gateway.seen] == ["https://api.anthropic.com/v1/models"]


async def test_other_methods_and_unknown_roots_are_not_probes(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.head(stack.url + "/nowhere")).status_code == 404
        post = await http.post(stack.url + "/anthropic", content=b"{}")
    assert post.status_code == 404  # /anthropic itself is no API: the route error, as before
    assert stack.gateway.seen == []


def test_base_paths_are_every_prefix_and_its_parent() -> None:
    settings = load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET})
    router = Router(settings)
    for path in ("/v1", "/v1/", "/anthropic", "/anthropic/", "/anthropic/v1", "/openai/v1/",
                 "/mistral", "/mistral/v1?x=1"):
        assert router.is_base_path(path), path
    for path in ("/", "", "/v1/models", "/anthropic/v1/messages", "/v2", "/nowhere", "/anthropic/v2"):
        assert not router.is_base_path(path), path
