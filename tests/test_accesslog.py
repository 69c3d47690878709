"""The access log (issue 12) of a real ``lava-sidecar serve``, in both log formats: one line per
request with duration, time to first byte, both request ids, customer and meter, bytes out and the
outcome, equal to the request's usage record; never a secret or a forward token."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from proxy.emulator.server import running_gateway

from .conftest import TEST_SECRET
from .faults.harness import CHAT, body_for, who
from .faults.process import SidecarProcess, sidecar_process
from .inbound.wire import at_eof, connect, read_reply, send

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

#: The text formatter's prefix (``logs.configure``), then the access line.
TEXT_LINE = re.compile(r'^\S+ \S+ INFO lava_sidecar\.access: "(?P<method>\S+) (?P<path>\S+)" '
                       r"(?P<status>\d+)(?P<rest>.*)$")
FIELDS = ("duration_ms", "ttfb_ms", "request_id", "lava_request_id", "customer", "meter",
          "bytes_out", "outcome", "error_code")
NUMERIC = {"status", "bytes_out"}
FLOATS = {"duration_ms", "ttfb_ms"}


def access_lines(sp: SidecarProcess, fmt: str) -> list[dict[str, Any]]:
    """Every access line as a dict of its fields, whatever the format (text: ``k=v``, ``-`` is None)."""
    if fmt == "json":
        return [doc for doc in sp.logs() if doc.get("logger") == "lava_sidecar.access"]
    out = []
    for line in sp.stderr:
        m = TEXT_LINE.match(line)
        if m is None:
            continue
        doc: dict[str, Any] = {"method": m["method"], "path": m["path"], "status": int(m["status"])}
        for pair in m["rest"].split():
            key, _, value = pair.partition("=")
            doc[key] = None if value == "-" else (
                int(value) if key in NUMERIC else float(value) if key in FLOATS else value)
        out.append(doc)
    return out


async def raw_exchange(port: int, request: bytes) -> tuple[int, int, str | None]:
    """Status, every byte the client got up to the close, and the sidecar's request id."""
    async with connect(port) as (reader, writer):
        await send(writer, request)
        data = await reader.read()
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    ids = [v.strip() for n, _, v in (line.partition(":") for line in lines[1:])
           if n.lower() == "x-lava-sidecar-request-id"]
    return int(lines[0].split(" ", 2)[1]), len(data), ids[0] if ids else None


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_access_line_per_request_matches_its_usage_record(tmp_path: Path, fmt: str) -> None:
    async with running_gateway(TEST_SECRET) as gw, sidecar_process(
            tmp_path, gw.url, logging={"level": "info", "format": fmt, "access_log": True}) as sp:
        async with openai.AsyncOpenAI(base_url=sp.url + "/v1", api_key="sk-app", max_retries=0,
                                      default_headers=who()) as oa:
            await oa.chat.completions.create(model="gpt-4o-mini",
                                             messages=[{"role": "user", "content": "hi"}])
        async with anthropic.AsyncAnthropic(base_url=sp.url + "/anthropic", api_key="sk-ant-app",
                                            max_retries=0, default_headers=who("cus_beta")) as an, \
                an.messages.stream(model="claude-haiku-4-5", max_tokens=16,
                                   messages=[{"role": "user", "content": "count"}]) as s:
            await s.get_final_message()
        # Exact bytes on the wire: the line's bytes_out is what this client read.
        body = body_for(CHAT, stream=False)
        raw = (f"POST {CHAT}?api-version=secret-ish HTTP/1.1\r\nHost: sidecar\r\n"
               "Content-Type: application/json\r\nX-Lava-Customer-Id: cus_raw\r\n"
               f"X-Lava-Meter: chat-tokens\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
               ).encode() + body
        raw_status, raw_bytes, raw_id = await raw_exchange(sp.port, raw)
        refused_status, refused_bytes, refused_id = await raw_exchange(
            sp.port, f"POST {CHAT} HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # no customer: refused
        # Invalid HTTP: the server answers it itself; its line says so.
        async with connect(sp.port) as (reader, writer):
            await send(writer, b"NOT HTTP\r\n\r\n")
            assert (await read_reply(reader)).status == 400
            assert await at_eof(reader)
        await asyncio.sleep(0.2)  # the usage log's flush interval
        tokens = {s.header("authorization") for s in gw.seen}
        sp.terminate()
        assert await sp.exit_code(within=30) == 0
    records = {r["request_id"]: r for r in sp.records()}
    lines = access_lines(sp, fmt)
    served = [line for line in lines if "request_id" in line]
    assert len(served) == len(records) == 4
    for line in served:
        rec = records[line["request_id"]]
        assert set(FIELDS) <= set(line)
        assert (line["status"], line["outcome"], line["lava_request_id"], line["customer"],
                line["meter"], line["error_code"]) == (
            rec["status"], rec["outcome"], rec["lava_request_id"], rec["customer"], rec["meter"],
            rec["error_code"])
        assert line["duration_ms"] > 0
        assert line["bytes_out"] > 0
        if line["outcome"] == "ok":
            assert line["lava_request_id"]
            assert 0 < line["ttfb_ms"] <= line["duration_ms"]
    by_id = {line["request_id"]: line for line in served}
    assert (raw_status, by_id[raw_id]["bytes_out"], by_id[raw_id]["path"]) == (200, raw_bytes, CHAT)
    refused = by_id[refused_id]
    assert (refused_status, refused["bytes_out"], refused["outcome"]) == (401, refused_bytes, "rejected")
    assert (refused["customer"], refused["lava_request_id"], refused["ttfb_ms"]) == (None, None, None)
    assert {(line["method"], line["path"], line["customer"]) for line in served} == {
        ("POST", CHAT, "cus_alpha"), ("POST", "/anthropic/v1/messages", "cus_beta"),
        ("POST", CHAT, "cus_raw"), ("POST", CHAT, None)}
    (server_refusal,) = [line for line in lines if "request_id" not in line] if fmt == "json" else \
        [line for line in sp.stderr if "error_code=invalid_http outcome=rejected" in line]
    if fmt == "json":
        assert (server_refusal["status"], server_refusal["error_code"]) == (400, "invalid_http")
    text = "\n".join(sp.stderr)
    assert "secret-ish" not in text  # the query string is not logged
    assert all(t and t.removeprefix("Bearer ") not in text for t in tokens)
    assert TEST_SECRET not in text
    if fmt == "json":
        for line in lines:
            json.dumps(line)  # one parseable object per line, keys and all
