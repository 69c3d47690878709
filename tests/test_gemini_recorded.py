"""Every recorded Gemini exchange through the real sidecar (issue 20's done-when).

The local Lava serves each recording (tests/data/recorded/genai/gemini, real traffic) byte for byte
in seeded random-sized chunks; the client sends the recorded request to ``/gemini/...``. Every
answer must reach the client unchanged, errors included, and every 200 must meter exactly what the
recorded body says (the independent reading in tests/usage/reference.py): one usage line each.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from proxy.emulator.cassettes import HEADER, load_cassettes
from proxy.usage.base import Api

from .stack import CUSTOMER_HEADERS, running_stack
from .usage.recorded import ROOT, Recording, gemini_recordings
from .usage.reference import api_of, expected

HOST = "https://generativelanguage.googleapis.com"


def sidecar_path(rec: Recording) -> str:
    assert rec.url.startswith(HOST + "/")
    return "/gemini" + rec.url[len(HOST):]


def breakdown(pieces: tuple[tuple[str, str, int], ...]) -> dict[str, dict[str, int]] | None:
    out: dict[str, dict[str, int]] = {}
    for part, modality, tokens in pieces:
        out.setdefault(part, {})[modality] = tokens
    return out or None


async def test_every_gemini_recording_relays_unchanged_and_meters_exactly(tmp_path: Path) -> None:
    recs = gemini_recordings()
    ok = [r for r in recs if r.status == 200]
    assert len(recs) >= 180
    assert len(ok) >= 170
    cassettes = load_cassettes([ROOT / "genai" / "gemini"])
    async with running_stack(tmp_path, gateway_options={"cassettes": cassettes,
                                                        "cassette_max_chunk": 61}) as stack, \
            httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for rec in recs:
            headers = {**CUSTOMER_HEADERS, HEADER: PurePosixPath(rec.name).name}
            if rec.request_body:
                headers["Content-Type"] = "application/json"
            resp = await http.request(rec.method, sidecar_path(rec), headers=headers,
                                      content=rec.request_body or None)
            seen = await stack.gateway.last.finished()
            assert seen.source == "cassette", rec.name
            assert (resp.status_code, resp.content) == (rec.status, rec.body), rec.name
            assert resp.headers["content-type"] == rec.content_type, rec.name
    lines = stack.log_lines()
    assert len(lines) == len(recs)
    exact = 0
    for rec, line in zip(recs, lines, strict=True):
        want = expected(rec)
        got: dict[str, Any] = {k: line[k] for k in (
            "status", "source", "input_tokens", "output_tokens", "cache_read_tokens",
            "reasoning_tokens", "tool_prompt_tokens", "modality_tokens", "response_model",
            "response_id")}
        assert got == {
            "status": rec.status,
            # The pipeline's rule: an error answer without usage has nothing to bill.
            "source": "none" if rec.status >= 400 and want.source == "missing" else want.source,
            "input_tokens": want.input_tokens,
            "output_tokens": want.output_tokens, "cache_read_tokens": want.cache_read_tokens,
            "reasoning_tokens": want.reasoning_tokens, "tool_prompt_tokens": want.tool_prompt_tokens,
            "modality_tokens": breakdown(want.modality_tokens), "response_model": want.model,
            "response_id": want.response_id}, rec.name
        is_generate = api_of(rec) is Api.GENERATE_CONTENT
        assert line["api"] == ("generate_content" if is_generate else "other"), rec.name
        assert line["stream"] == (":streamGenerateContent" in rec.url), rec.name
        assert line["partial"] is False, rec.name
        if rec.status == 200 and is_generate:
            assert want.source == "provider", rec.name
            assert line["model"] == rec.url.split("/models/")[1].split(":")[0], rec.name
            exact += 1
    assert exact >= 170
    # the thinking models' thoughts were billed: output beyond the candidates in most answers
    assert sum(1 for ln in lines if (ln["reasoning_tokens"] or 0) > 0) > 100
