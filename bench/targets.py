"""The things measured: direct (no proxy), nginx, lava-sidecar (one per gateway client), LiteLLM.

Each is started against the same fake upstream, as a real process on a loopback port, and is
described by a ``Target``: where to send requests, which headers, which PIDs to charge CPU and
memory to, and how long it took to become ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import payloads
from .processes import Proc, free_port, http_get_status, spawn, wait_ready

Kind = Literal["direct", "nginx", "floor", "sidecar", "litellm"]
CHAT_PATH = "/v1/chat/completions"
CUSTOMER, METER = "cus_bench_0001", "chat-tokens"
#: What an app sends to every target: its dummy key (the sidecar drops it) and who the request is for.
APP_HEADERS: tuple[tuple[str, str], ...] = (
    ("Authorization", "Bearer sk-app-dummy-key"),
    ("X-Lava-Customer-Id", CUSTOMER),
    ("X-Lava-Meter", METER),
)
#: What a google-genai app sends: its Google key as ``x-goog-api-key`` (the sidecar drops it; the
#: fake refuses it on Lava's forward) and the same customer and meter headers.
GEMINI_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-goog-api-key", "AIza-app-dummy-key"),
    ("X-Lava-Customer-Id", CUSTOMER),
    ("X-Lava-Meter", METER),
)


@dataclass
class Target:
    name: str
    kind: Kind
    port: int
    headers: tuple[tuple[str, str], ...] = APP_HEADERS
    path: str = CHAT_PATH
    proc: Proc | None = None
    startup_s: float | None = None
    #: Fraction of each phase's request count this target gets (LiteLLM serves ~70 requests/s).
    scale: float = 1.0
    #: Requests (and streams) sent, to compare with the usage log's line count.
    sent: int = 0
    #: Of ``sent``, the Gemini streams: each must be metered exactly (``sidecar_after_stop``).
    gemini_sent: int = 0
    info: dict[str, object] = field(default_factory=dict)
    #: Where Google's API is on this target: ``""`` (direct, nginx: the path as Google has it),
    #: ``"/gemini"`` (the sidecar's route), None (not served: LiteLLM's Gemini pass-through goes
    #: to Google's host, not the fake).
    gemini_prefix: str | None = ""

    @property
    def is_proxy(self) -> bool:
        return self.kind != "direct"

    def gemini_path(self) -> str | None:
        """The streamGenerateContent path on this target, or None when it serves no Gemini."""
        return None if self.gemini_prefix is None else self.gemini_prefix + payloads.gemini_path()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def pids(self) -> list[int]:
        return self.proc.pids() if self.proc is not None else []

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def direct(upstream_port: int) -> Target:
    return Target("direct", "direct", upstream_port)


_NGINX_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {d}/client_temp;
  proxy_temp_path {d}/proxy_temp;
  fastcgi_temp_path {d}/fastcgi_temp;
  uwsgi_temp_path {d}/uwsgi_temp;
  scgi_temp_path {d}/scgi_temp;
  upstream up {{ server 127.0.0.1:{up}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /__ready {{ return 200 "ok"; }}
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }}
  }}
}}
"""


def nginx(workdir: Path, upstream_port: int) -> Target:
    """nginx as a plain reverse proxy, one worker (the sidecar is one process too): the floor."""
    d = workdir / "nginx"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = d / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(d=d, up=upstream_port, port=port))
    version = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False).stderr.strip()
    proc = spawn("nginx", ["nginx", "-c", str(conf), "-p", str(d), "-g", "daemon off;"],
                 log_path=d / "stderr.log")
    t = Target("nginx", "nginx", port, proc=proc, info={"version": version, "workers": 1})
    try:
        t.startup_s = wait_ready(proc, lambda: http_get_status(port, "/__ready") == 200, timeout=15)
    except BaseException:
        proc.stop()
        raise
    return t


def floor(workdir: Path, upstream_port: int, *, sees_body: bool = False) -> Target:
    """``bench.floor``: the cheapest HTTP proxy Python can be (uvloop, httptools both ways, bytes
    relayed verbatim, nothing else), so the ratios to nginx show how much of the sidecar's is the
    runtime's. One process, as nginx and the sidecar. ``sees_body``: each response body piece
    also handed to Python and scanned for usage ("floor-sees-body"), the least metering adds."""
    name = "floor-sees-body" if sees_body else "python-floor"
    d = workdir / name
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = spawn(name, [sys.executable, "-m", "bench.floor", "--upstream", str(upstream_port),
                        "--port", str(port), *(["--sees-body"] if sees_body else [])],
                 log_path=d / "output.log", cwd=Path(__file__).resolve().parent.parent)
    t = Target(name, "floor", port, proc=proc)
    try:
        t.startup_s = wait_ready(proc, lambda: accepts(port), timeout=15)
    except BaseException:
        proc.stop()
        raise
    return t


def accepts(port: int) -> bool:
    """Whether something on 127.0.0.1 accepts connections on ``port`` (a listener is up)."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _sidecar_argv() -> list[str]:
    script = Path(sys.executable).parent / "lava-sidecar"
    return [str(script)] if script.exists() else [sys.executable, "-m", "proxy"]


def sidecar(workdir: Path, upstream_port: int, client: str, *, name: str | None = None,
            argv: list[str] | None = None, extra_config: str = "",
            env_extra: dict[str, str] | None = None, info: dict[str, object] | None = None) -> Target:
    """``lava-sidecar serve`` as a pod runs it: metering, metrics and the usage log (to a file) on.

    ``argv``: another checkout's ``lava-sidecar`` (``bench.ab``); ``extra_config``: YAML lines
    appended to the config (a feature switched on, to state its cost)."""
    name = name or f"sidecar-{client}"
    d = workdir / name
    d.mkdir(parents=True, exist_ok=True)
    port, admin = free_port(), free_port()
    usage_log = d / "usage.jsonl"
    config = d / "sidecar.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f"admin_listen: 127.0.0.1:{admin}\n"
        # The default pool (512) would queue the memory phase's 1,000 streams: one connection each.
        f"gateway: {{client: {client}, max_connections: 2048}}\n"
        f"usage_log: {{path: '{usage_log}'}}\n"
        "metrics: {customer_label: true}\n"
        # The fake upstream speaks only /v1/forward (and counts anything else as rejected): this
        # tree lists no prices from it (another checkout, bench.ab's base, may not know the key).
        + ("pricing: {from_lava: false}\n" if argv is None else "")
        + "logging: {level: warning, format: json}\n" + extra_config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    env.update(env_extra or {})
    # A throwaway test key, in the environment only: never written to the config or any file.
    env["LAVA_SECRET_KEY"] = "aks_test_bench" + secrets.token_hex(12)
    env["LAVA_GATEWAY_URL"] = f"http://127.0.0.1:{upstream_port}"
    proc = spawn(name, [*(argv or _sidecar_argv()), "serve", "--config", str(config)],
                 log_path=d / "output.log", env=env)
    t = Target(name, "sidecar", port, proc=proc, gemini_prefix="/gemini",
               info={"client": client, "admin_port": admin, "usage_log": str(usage_log),
                     **(info or {})})
    try:
        t.startup_s = wait_ready(proc, lambda: http_get_status(admin, "/readyz") == 200, timeout=30)
    except BaseException:
        proc.stop()
        raise
    return t


def sidecar_traced(workdir: Path, upstream_port: int) -> Target:
    """The lean sidecar with tracing on, every request sampled, exporting over OTLP/HTTP to the fake
    upstream's ``/v1/traces`` (which accepts and discards): the cost of tracing, beside sidecar-lean."""
    endpoint = f"http://127.0.0.1:{upstream_port}/v1/traces"
    return sidecar(workdir, upstream_port, "lean", name="sidecar-traced",
                   extra_config=f"tracing: {{endpoint: '{endpoint}', schedule_delay_ms: 1000}}\n")


#: All four quota limits at values the benchmark never reaches: every request is checked, counted,
#: reserved (tokens and spend) and settled, and none is refused.
QUOTA_LIMITS = ('{requests_per_minute: 1000000000, tokens_per_minute: 1000000000000, '
                'concurrent_requests: 1000000, usd_per_day: "1000000"}')
#: The price the spend reservation quotes with (a pinned meter, so no listing is needed).
QUOTA_METER = ('meters: [{slug: chat-tokens, tier_type: tokens_1m, '
               'tiers: [{start: 0, rate: "3.00"}]}]\n')


def redis_server(workdir: Path) -> tuple[Proc, str]:
    """A ``redis-server`` on a free loopback port for the Redis-backed quota target."""
    port = free_port()
    d = workdir / "redis"
    d.mkdir(parents=True, exist_ok=True)
    proc = spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", str(d)], log_path=d / "redis.log")
    try:
        wait_ready(proc, lambda: _redis_ping(port), timeout=15)
    except BaseException:
        proc.stop()
        raise
    return proc, f"redis://127.0.0.1:{port}/0"


def _redis_ping(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
            c.sendall(b"PING\r\n")
            return c.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def sidecar_priced(workdir: Path, upstream_port: int) -> Target:
    """The lean sidecar with the bench's meter priced (``QUOTA_METER``) and no quotas: what the
    quota targets are measured against, since a spend reservation needs a price and pricing each
    response has a cost of its own, which is not the quotas' (docs/quotas.md#cost)."""
    return sidecar(workdir, upstream_port, "lean", name="sidecar-priced", extra_config=QUOTA_METER)


def sidecar_quota(workdir: Path, upstream_port: int, backend: str, redis_url: str = "") -> Target:
    """The lean sidecar with all four quota limits on, on the memory store or on Redis, and the
    bench's meter priced: the cost of quotas, beside sidecar-priced (docs/quotas.md#cost)."""
    store = "" if backend == "memory" else "backend: redis, redis: {url: {env: QUOTA_REDIS_URL}}, "
    return sidecar(workdir, upstream_port, "lean", name=f"sidecar-quota-{backend}",
                   extra_config=f"quotas: {{{store}default: {QUOTA_LIMITS}}}\n" + QUOTA_METER,
                   env_extra={"QUOTA_REDIS_URL": redis_url} if redis_url else None)


def sidecar_after_stop(t: Target) -> None:
    """Once stopped (usage log flushed): how many requests the log metered against what was sent,
    and how many of its Gemini lines billed the bench stream's tokens exactly (the thoughts as
    output) against the Gemini streams sent."""
    path = t.info.get("usage_log")
    lines = gemini = exact = 0
    if isinstance(path, str):
        with contextlib.suppress(OSError), open(path, "rb") as f:
            for line in f:
                lines += 1
                if b'"provider":"gemini"' in line:
                    gemini += 1
                    exact += _gemini_exact(json.loads(line))
    t.info.update(usage_log_lines=lines, requests_sent=t.sent, gemini_usage_lines=gemini,
                  gemini_usage_lines_exact=exact, gemini_streams_sent=t.gemini_sent)


def _gemini_exact(line: dict[str, object]) -> bool:
    want = payloads.gemini_usage(len(payloads.STREAM_TOKENS))
    thoughts = payloads.GEMINI_THOUGHTS_TOKENS
    return line.get("outcome") == "ok" and line.get("source") == "provider" \
        and line.get("input_tokens") == want["promptTokenCount"] \
        and line.get("output_tokens") == len(payloads.STREAM_TOKENS) + thoughts \
        and line.get("reasoning_tokens") == thoughts


def sidecar_metrics_size(t: Target) -> int | None:
    """Bytes of a /metrics scrape (proves the admin listener serves metrics while under test)."""
    admin = t.info.get("admin_port")
    if not isinstance(admin, int):
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            return len(r.read())
    except OSError:
        return None
