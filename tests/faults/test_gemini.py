"""A Gemini stream its client leaves mid-way: recorded once, partial, with the thinking and the
answer tokens the last whole chunk stated (every chunk's ``usageMetadata`` is cumulative)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.emulator.providers import Pacing
from proxy.emulator.providers import gemini as mock

from .harness import CUSTOMER, call, fault_stack, only
from .test_client import raw_request, vanish

pytestmark = pytest.mark.timeout(60)
STREAM = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "Count"}]}]}).encode()


async def test_disconnect_mid_stream_bills_what_was_streamed(tmp_path: Path, client_kind: str) -> None:
    options = {"pacing": Pacing(chunks=200, delay=0.02, output_tokens=200)}
    async with fault_stack(tmp_path, client_kind, gateway_options=options) as s:
        reader, writer = await raw_request(s.side, STREAM, BODY)
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        await reader.readuntil(b"\r\n\r\n")
        got = b""
        while got.count(b"\r\n\r\n") < 3:  # three whole chunks, then the client is gone
            got += await reader.read(4096)
        await vanish(writer)
        seen = await s.gw.last.finished()
        assert not seen.complete
        await s.side.settled()
        assert (await call(s.side.url, STREAM, body=BODY)).status == 200
    rec = only(s.side.records(), lava_request_id=seen.request_id)
    assert (rec["customer"], rec["outcome"], rec["partial"], rec["source"]) == (
        CUSTOMER, "client_disconnect", True, "provider")
    assert rec["reasoning_tokens"] == mock.THOUGHTS  # thinking came first and is billed
    assert mock.THOUGHTS + 3 <= rec["output_tokens"] < mock.THOUGHTS + 200
    assert rec["output_tokens"] <= seen.reported.output_tokens  # never more than was sent
