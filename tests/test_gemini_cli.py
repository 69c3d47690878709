"""Google's Gemini CLI (npm ``@google/gemini-cli``, pinned in tests/gemini-cli), unchanged, pointed
at the sidecar with ``GOOGLE_GEMINI_BASE_URL=http://sidecar/gemini``, in non-interactive prompt mode.

Two ways a team bills it: the customer as headers (``GEMINI_CLI_CUSTOM_HEADERS``), or a local
``GEMINI_API_KEY`` bound to a customer in the sidecar config (the CLI sends it as
``x-goog-api-key``). Gemini CLI 0.61.0 reads a set ``GOOGLE_GEMINI_BASE_URL`` as an auth type of its
own ("gateway") that its non-interactive mode then refuses ("Invalid auth method selected."); the
user setting ``security.auth.selectedType: gemini-api-key`` keeps the API-key auth and the base URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from proxy import config as c
from proxy.secret import Secret

from .stack import Stack, running_stack

pytestmark = [pytest.mark.external, pytest.mark.slow]
PREFIX = Path(__file__).resolve().parent / "gemini-cli"
BIN = PREFIX / "node_modules" / ".bin" / "gemini"
LOCAL_KEY = "gemini-team-key-local-0001"
GEMINI = "https://generativelanguage.googleapis.com"


async def _cli() -> Path:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: Gemini CLI is a Node program (.ci/run installs it)")
    if not BIN.exists():  # .ci/run installs it; a developer's first run does it here
        npm = shutil.which("npm") or str(Path(found).with_name("npm"))
        proc = await asyncio.create_subprocess_exec(
            npm, "ci", "--prefix", str(PREFIX), "--no-audit", "--no-fund",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
        if proc.returncode != 0 or not BIN.exists():
            pytest.fail("node is installed but Gemini CLI is not, and `npm ci --prefix "
                        f"tests/gemini-cli` failed:\n{out.decode(errors='replace')[-2000:]}")
    return BIN


async def run_cli(stack: Stack, home: Path, prompt: str, **env: str) -> tuple[int, str, str]:
    gemini = await _cli()
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(
        {"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    proc = await asyncio.create_subprocess_exec(
        str(gemini), "--prompt", prompt, "--model", "gemini-2.5-flash", cwd=str(home),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "NO_COLOR": "1",
             "GOOGLE_GEMINI_BASE_URL": stack.url + "/gemini", "GEMINI_CLI_TRUST_WORKSPACE": "true",
             **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def test_gemini_cli_prompt_through_the_sidecar(tmp_path: Path) -> None:
    identity = c.Identity(api_keys=(c.ApiKeyBinding(Secret(LOCAL_KEY), "cus_cli_key", "cli-tokens"),))
    async with running_stack(tmp_path, identity=identity) as stack:
        code, out, err = await run_cli(
            stack, tmp_path / "by-header", "Say hello", GEMINI_API_KEY="AIzaSy-placeholder-not-used",
            GEMINI_CLI_CUSTOM_HEADERS="X-Lava-Customer-Id: cus_cli, X-Lava-Meter: cli-tokens")
        assert code == 0, err[-3000:]
        by_header = list(stack.gateway.state.seen)
        code, out2, err = await run_cli(stack, tmp_path / "by-key", "Say hello",
                                        GEMINI_API_KEY=LOCAL_KEY)
        assert code == 0, err[-3000:]
        by_key = list(stack.gateway.state.seen)[len(by_header):]
        for seen in (*by_header, *by_key):
            await seen.finished()
            assert all(LOCAL_KEY not in v and "AIzaSy" not in v for _, v in seen.headers)
    assert "Hello from the local Lava gateway" in out
    assert "Hello from the local Lava gateway" in out2
    assert by_header
    assert by_key
    generate = [s for s in (*by_header, *by_key) if s.url and ":streamGenerateContent" in s.url]
    assert generate
    assert all(s.url == GEMINI + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
               for s in generate)
    lines = [ln for ln in stack.log_lines() if ln["api"] == "generate_content"]
    assert {(ln["customer"], ln["meter"], ln["identity"]) for ln in lines} == {
        ("cus_cli", "cli-tokens", "header"), ("cus_cli_key", "cli-tokens", "api_key")}
    for ln in lines:
        assert (ln["source"], ln["stream"], ln["partial"]) == ("provider", True, False)
        assert ln["output_tokens"] > ln["reasoning_tokens"] > 0  # the thinking was billed
        assert ln["input_tokens"] > 1000  # the CLI's own system prompt and context
