"""The MCP tools on the native Gemini route: ``prompt`` with a gemini-* model, ``call`` with a
native path, ``providers`` listing Gemini's models; each through the real sidecar, billed once."""

from __future__ import annotations

from pathlib import Path

import httpx

from proxy.emulator.providers import gemini as mock
from proxy.mcp.config import McpSettings
from proxy.mcp.tools import SidecarLink, Tools

from ..stack import running_stack


async def test_prompt_call_and_models_on_gemini(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack, httpx.AsyncClient(timeout=30) as http:
        tools = Tools(stack.settings, McpSettings(), SidecarLink(stack.url, stack.admin_url, False),
                      http, None, customer="cus_agent", meter="chat")  # type: ignore[arg-type]
        who = tools.bind()
        answer = await tools.prompt(who, "gemini-2.5-flash", [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            max_tokens=5)
        sent = stack.gateway.last.json()
        called = await tools.call(who, "gemini", "POST", "/v1beta/models/gemini-2.5-flash:countTokens",
                                  {"contents": [{"parts": [{"text": "hello"}]}]})
        listed = await tools.providers(who, models_for="gemini")
    assert answer["provider"] == "gemini"
    assert answer["text"]
    assert answer["finish_reason"] == "MAX_TOKENS"
    assert answer["usage"] == {"input_tokens": answer["usage"]["input_tokens"],
                               "output_tokens": 5 + mock.THOUGHTS}  # thinking billed as output
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent["generationConfig"] == {"maxOutputTokens": 5}
    assert called["status"] == 200
    assert called["body"]["totalTokens"] > 0
    entry = next(p for p in listed["providers"] if p["name"] == "gemini")
    assert (entry["family"], entry["sidecar_path"]) == ("gemini", "/gemini")
    assert "gemini-2.5-flash" in entry["models"]
    lines = stack.log_lines()
    assert [(ln["api"], ln["identity"], ln["customer"]) for ln in lines] == [
        ("generate_content", "mcp", "cus_agent"), ("count_tokens", "mcp", "cus_agent"),
        ("models", "mcp", "cus_agent")]
    assert lines[0]["output_tokens"] == 5 + mock.THOUGHTS
