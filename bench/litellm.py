"""LiteLLM proxy as a peer: installed on request into its own venv, run offline against the fake.

Offline flags, the master key and the 0.0.0.0 default are from ../shared/reference/tooling.md §6.
Install is ~2 minutes and ~756 MB, so it only happens with ``--with-litellm`` (never in smoke mode).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from . import payloads
from .processes import StartupError, free_port, http_get_status, spawn, wait_ready
from .targets import APP_HEADERS, Target

VENV = Path(__file__).resolve().parents[1] / ".bench" / "litellm-venv"
_OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOG": "ERROR",
    "NO_DOCS": "True",
    "DISABLE_ADMIN_UI": "True",
    # Its aiohttp pool allows 500 connections per host: like the sidecar's pool (raised to 2048 in
    # targets.py), raised so the memory phase's 1,000 streams are not queued by configuration.
    "AIOHTTP_CONNECTOR_LIMIT": "2048",
    "AIOHTTP_CONNECTOR_LIMIT_PER_HOST": "2048",
}
#: LiteLLM serves ~70 requests/s on one worker: it gets this share of each phase's request count.
SCALE = 0.02


def installed() -> bool:
    return (VENV / "bin" / "litellm").exists()


def install(log: Path) -> None:
    """``python -m venv`` + ``pip install 'litellm[proxy]'``, bounded to 20 minutes."""
    print(f"bench: installing litellm[proxy] into {VENV} (~2 min, ~756 MB) ...", file=sys.stderr)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        for argv in ([sys.executable, "-m", "venv", "--clear", str(VENV)],
                     [str(VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"]):
            rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=1200, check=False)
            if rc.returncode != 0:
                raise StartupError(f"litellm install failed ({' '.join(argv[:3])}); see {log}")


def version() -> str:
    res = subprocess.run([str(VENV / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True, timeout=60, check=False)
    return res.stdout.strip() or "unknown"


def start(workdir: Path, upstream_port: int, workers: int = 1) -> Target:
    d = workdir / "litellm"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_base = f"http://127.0.0.1:{upstream_port}/v1"
    models = "".join(
        f"  - model_name: {name}\n"
        f"    litellm_params: {{model: openai/{name}, api_base: '{api_base}', api_key: sk-fake}}\n"
        for name in (payloads.MODEL, payloads.HOLD_MODEL, payloads.FAST_MODEL))
    config = d / "config.yaml"
    config.write_text(f"model_list:\n{models}litellm_settings: {{drop_params: true, set_verbose: false}}\n")
    master = "sk-" + secrets.token_hex(24)
    env = {**os.environ, **_OFFLINE_ENV, "LITELLM_MASTER_KEY": master}
    argv = [str(VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", str(workers)]
    proc = spawn("litellm", argv, log_path=d / "output.log", env=env, cwd=d)
    headers = tuple((k, v) for k, v in APP_HEADERS if k != "Authorization")
    t = Target("litellm", "litellm", port, headers=(("Authorization", f"Bearer {master}"), *headers),
               proc=proc, scale=SCALE, gemini_prefix=None, info={"version": version(), "workers": workers})
    try:
        t.startup_s = wait_ready(proc, lambda: http_get_status(port, "/health/liveliness") == 200,
                                 timeout=180, poll=0.05)
    except BaseException:
        proc.stop()
        raise
    return t
