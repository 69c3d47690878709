"""Rounds → one summary per target, ratios to nginx and LiteLLM, the issue's goals, and a text table.

Pure: takes the raw per-round figures and returns plain dicts and strings (run.py writes them).
"Added" figures subtract the direct run of the same round, then take the median over rounds.
"""

from __future__ import annotations

from typing import Any

from .stats import median, ratio, rounded

#: Every target, the direct baseline included, reports these.
BASE_FIGURES = ("rps_c32", "latency_c1_p50_ms", "latency_c1_p99_ms", "latency_c32_p50_ms",
                "latency_c32_p99_ms", "ttfb_p50_ms", "ttfb_p99_ms", "gap_p50_ms", "gap_p99_ms",
                "gap_max_ms", "held_back_chunks", "client_lag_max_ms", "errors")
#: Every proxy also reports these (direct has no process of its own, so nothing is added).
PROXY_FIGURES = ("startup_s", "cpu_us_per_req", "added_c1_p50_ms", "added_c1_p99_ms",
                 "added_c32_p50_ms", "added_c32_p99_ms", "added_ttfb_p50_ms", "added_ttfb_p99_ms",
                 "added_gap_p99_ms", "rss_start_mb", "rss_idle_mb", "rss_streams_mb", "streams_held",
                 "rss_after_mb")
#: The stream-CPU phase's figures (every proxy): CPU per streamed chat completion, and per chunk.
STREAM_CPU_FIGURES = ("cpu_us_per_stream", "cpu_us_per_chunk")
#: The Gemini stream-CPU phase's (every proxy with a Gemini route: not LiteLLM): CPU per streamed
#: Gemini completion and per chunk, and per stream over the same target's chat stream (the median
#: of the rounds' ratios: both phases ran in each round).
GEMINI_STREAM_CPU_FIGURES = ("gemini_cpu_us_per_stream", "gemini_cpu_us_per_chunk",
                             "gemini_stream_x_openai")

_PHASES = ("c1", "load", "streams", "stream_cpu", "gemini_stream_cpu")
_MEDIANS = (("latency_c1_p50_ms", "c1", "p50_ms"), ("latency_c1_p99_ms", "c1", "p99_ms"),
            ("latency_c32_p50_ms", "load", "p50_ms"), ("latency_c32_p99_ms", "load", "p99_ms"),
            ("ttfb_p50_ms", "streams", "ttfb_p50_ms"), ("ttfb_p99_ms", "streams", "ttfb_p99_ms"),
            ("gap_p50_ms", "streams", "gap_p50_ms"), ("gap_p99_ms", "streams", "gap_p99_ms"),
            ("gap_max_ms", "streams", "gap_max_ms"))
_ADDED = (("added_c1_p50_ms", "c1", "p50_ms"), ("added_c1_p99_ms", "c1", "p99_ms"),
          ("added_c32_p50_ms", "load", "p50_ms"), ("added_c32_p99_ms", "load", "p99_ms"),
          ("added_ttfb_p50_ms", "streams", "ttfb_p50_ms"), ("added_ttfb_p99_ms", "streams", "ttfb_p99_ms"),
          ("added_gap_p99_ms", "streams", "gap_p99_ms"))


def _col(rounds: list[dict[str, Any]], phase: str, target: str, key: str) -> list[float | None]:
    return [r[phase][target].get(key) for r in rounds if target in r.get(phase, {})]


def _added(rounds: list[dict[str, Any]], phase: str, target: str, key: str) -> float | None:
    diffs: list[float | None] = []
    for r in rounds:
        mine, base = r[phase].get(target, {}).get(key), r[phase].get("direct", {}).get(key)
        diffs.append(None if mine is None or base is None else mine - base)
    return rounded(median(diffs))


def summarize(rounds: list[dict[str, Any]], targets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``targets`` holds per-target facts gathered outside the rounds (kind, startup, memory, errors)."""
    out: dict[str, dict[str, Any]] = {}
    for name, facts in targets.items():
        s: dict[str, Any] = {"kind": facts["kind"]}
        s["rps_c32"] = rounded(median(_col(rounds, "load", name, "rps")), 1)
        s["cpu_us_per_req"] = rounded(median(_col(rounds, "load", name, "cpu_us_per_req")), 1)
        s["upstream_cpu_us_per_req"] = rounded(
            median(_col(rounds, "load", name, "upstream_cpu_us_per_req")), 1)
        for key, phase, src in _MEDIANS:
            s[key] = rounded(median(_col(rounds, phase, name, src)))
        for key in ("held_back_chunks", "held_back_client_stalled", "usage_chunks_seen"):
            s[key] = sum(int(v or 0) for v in _col(rounds, "streams", name, key))
        s["usage_chunks_seen"] += sum(int(v or 0) for v in _col(rounds, "stream_cpu", name,
                                                                "usage_chunks_seen"))
        for key in STREAM_CPU_FIGURES:
            s[key] = rounded(median(_col(rounds, "stream_cpu", name, key)), 2)
            s["gemini_" + key] = rounded(median(_col(rounds, "gemini_stream_cpu", name, key)), 2)
        s["gemini_stream_x_openai"] = rounded(median([
            ratio(r.get("gemini_stream_cpu", {}).get(name, {}).get("cpu_us_per_stream"),
                  r.get("stream_cpu", {}).get(name, {}).get("cpu_us_per_stream")) for r in rounds]), 3)
        lags = [v for v in _col(rounds, "streams", name, "client_lag_max_ms") if v is not None]
        s["client_lag_max_ms"] = max(lags) if lags else None
        round_errors = sum(int(v or 0) for p in _PHASES for v in _col(rounds, p, name, "errors"))
        s["errors"] = round_errors + int(facts.get("other_errors", 0))
        steal = [v for p in _PHASES for v in _col(rounds, p, name, "steal_pct")]
        s["steal_pct_mean"] = rounded(median(steal), 1)
        if facts["kind"] != "direct":
            for key, phase, src in _ADDED:
                s[key] = _added(rounds, phase, name, src)
            for key in ("startup_s", "rss_start_mb", "rss_idle_mb", "rss_streams_mb", "streams_held",
                        "rss_after_mb"):
                s[key] = facts.get(key)
        s["info"] = facts.get("info", {})
        out[name] = s
    return out


def ratios(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each proxy against nginx (x times nginx), the Python floor (x times python-floor: how much is
    the proxy's own work, not the runtime's) and LiteLLM (LiteLLM's figure over this one)."""
    ng, ll = summary.get("nginx", {}), summary.get("litellm", {})
    fl = summary.get("python-floor", {})
    out: dict[str, dict[str, float | None]] = {}
    for name, s in summary.items():
        if s["kind"] == "direct":
            continue
        r = {
            "cpu_per_req_x_nginx": ratio(s.get("cpu_us_per_req"), ng.get("cpu_us_per_req")),
            "cpu_per_req_litellm_over_this": ratio(ll.get("cpu_us_per_req"), s.get("cpu_us_per_req")),
            "cpu_per_stream_x_nginx": ratio(s.get("cpu_us_per_stream"), ng.get("cpu_us_per_stream")),
            "cpu_per_req_x_floor": ratio(s.get("cpu_us_per_req"), fl.get("cpu_us_per_req")),
            "cpu_per_stream_x_floor": ratio(s.get("cpu_us_per_stream"), fl.get("cpu_us_per_stream")),
            "gemini_cpu_per_stream_x_nginx": ratio(s.get("gemini_cpu_us_per_stream"),
                                                   ng.get("gemini_cpu_us_per_stream")),
            "gemini_stream_x_openai": s.get("gemini_stream_x_openai"),
            # Not a ratio: what this proxy spends per chunk beyond nginx (its own work per chunk).
            "cpu_per_chunk_minus_nginx_us": None if s.get("cpu_us_per_chunk") is None
            or ng.get("cpu_us_per_chunk") is None else s["cpu_us_per_chunk"] - ng["cpu_us_per_chunk"],
            "rps_c32_x_nginx": ratio(s.get("rps_c32"), ng.get("rps_c32")),
            "rps_c32_x_litellm": ratio(s.get("rps_c32"), ll.get("rps_c32")),
            "added_c1_p50_x_nginx": ratio(s.get("added_c1_p50_ms"), ng.get("added_c1_p50_ms")),
            "added_c1_p50_litellm_over_this": ratio(ll.get("added_c1_p50_ms"), s.get("added_c1_p50_ms")),
            "rss_idle_x_nginx": ratio(s.get("rss_idle_mb"), ng.get("rss_idle_mb")),
            "rss_idle_litellm_over_this": ratio(ll.get("rss_idle_mb"), s.get("rss_idle_mb")),
        }
        out[name] = {k: rounded(v, 2) for k, v in r.items()}
    return out


def _goal(text: str, value: float | None, limit: float, *, at_least: bool = False) -> dict[str, Any]:
    met = None if value is None else (value >= limit if at_least else value <= limit)
    return {"goal": text, "value": rounded(value, 3), "limit": limit, "met": met}


def goals(summary: dict[str, dict[str, Any]], rat: dict[str, dict[str, float | None]],
          hold: int) -> dict[str, list[dict[str, Any]]]:
    """The issue's targets for each lava-sidecar target; ``met`` is None when not measurable here."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, s in summary.items():
        if s["kind"] != "sidecar":
            continue
        r = rat.get(name, {})
        out[name] = [
            _goal("CPU per request <= 4x nginx", r.get("cpu_per_req_x_nginx"), 4.0),
            _goal("CPU per streamed chat completion <= 1.3x nginx", r.get("cpu_per_stream_x_nginx"), 1.3),
            _goal("Gemini stream CPU within 10% of the OpenAI chat stream (Gemini / OpenAI)",
                  s.get("gemini_stream_x_openai"), 1.1),
            _goal("CPU per request >= 50x less than LiteLLM", r.get("cpu_per_req_litellm_over_this"), 50.0,
                  at_least=True),
            _goal("added latency at c=1, p50 <= 0.5 ms", s.get("added_c1_p50_ms"), 0.5),
            _goal("added time to first byte, p50 <= 1 ms", s.get("added_ttfb_p50_ms"), 1.0),
            _goal("no chunk held back", s.get("held_back_chunks"), 0),
            _goal("RSS idle <= 60 MB", s.get("rss_idle_mb"), 60.0),
            _goal(f"RSS with {hold} open streams <= 150 MB", s.get("rss_streams_mb"), 150.0),
            _goal("start to /readyz 200 <= 1 s", s.get("startup_s"), 1.0),
        ]
        if name == "sidecar-quota-redis":
            # Against the same sidecar with the same meter priced and no quotas: pricing each
            # response costs a few us of its own (docs/quotas.md#cost), which is not the quotas'.
            # Runs without that target (--no-quotas leaves out all three) compare with sidecar-lean.
            ref_name = "sidecar-priced" if "sidecar-priced" in summary else "sidecar-lean"
            ref = summary.get(ref_name, {})
            base, cpu = ref.get("cpu_us_per_req"), s.get("cpu_us_per_req")
            added = None if base is None or cpu is None else cpu - base
            out[name].append(_goal(f"Redis quotas add <= 40 us CPU per request (vs {ref_name})",
                                   added, 40.0))
            out[name].append(_goal(f"latency c=32 p50 <= 1.5x {ref_name}", ratio(
                s.get("latency_c32_p50_ms"), ref.get("latency_c32_p50_ms")), 1.5))
        if name == "sidecar-traced":
            base = summary.get("sidecar-lean", {}).get("cpu_us_per_req")
            cpu = s.get("cpu_us_per_req")
            added = None if base is None or cpu is None else cpu - base
            out[name].append(_goal("tracing adds <= 40 us CPU per request (vs sidecar-lean)", added, 40.0))
    return out


_ROWS = (("startup_s", "start to ready (s)"), ("cpu_us_per_req", "CPU per request (us)"),
         ("cpu_us_per_stream", "CPU per stream (us)"), ("cpu_us_per_chunk", "  CPU per chunk (us)"),
         ("gemini_cpu_us_per_stream", "CPU per streamed Gemini completion (us)"),
         ("gemini_cpu_us_per_chunk", "  CPU per Gemini chunk (us)"),
         ("rps_c32", "requests/s at c=32"), ("latency_c1_p50_ms", "latency c=1 p50 (ms)"),
         ("added_c1_p50_ms", "  added c=1 p50 (ms)"), ("added_c1_p99_ms", "  added c=1 p99 (ms)"),
         ("latency_c32_p50_ms", "latency c=32 p50 (ms)"), ("latency_c32_p99_ms", "latency c=32 p99 (ms)"),
         ("added_c32_p50_ms", "  added c=32 p50 (ms)"),
         ("added_c32_p99_ms", "  added c=32 p99 (ms)"), ("ttfb_p50_ms", "stream TTFB p50 (ms)"),
         ("added_ttfb_p50_ms", "  added TTFB p50 (ms)"), ("added_ttfb_p99_ms", "  added TTFB p99 (ms)"),
         ("gap_p50_ms", "chunk gap p50 (ms)"), ("gap_p99_ms", "chunk gap p99 (ms)"),
         ("added_gap_p99_ms", "  added gap p99 (ms)"), ("held_back_chunks", "chunks held back"),
         ("held_back_client_stalled", "  more, while the client stalled"),
         ("client_lag_max_ms", "  client's own worst stall (ms)"),
         ("rss_idle_mb", "RSS idle (MB)"), ("rss_streams_mb", "RSS, streams held open (MB)"),
         ("streams_held", "  streams held open"), ("errors", "errors"))
_RATIO_ROWS = (("cpu_per_req_x_nginx", "CPU/req, x nginx"),
               ("cpu_per_req_litellm_over_this", "CPU/req, LiteLLM / this"),
               ("cpu_per_stream_x_nginx", "CPU/stream, x nginx"),
               ("cpu_per_chunk_minus_nginx_us", "CPU/chunk, minus nginx's (us)"),
               ("cpu_per_req_x_floor", "CPU/req, x python-floor"),
               ("cpu_per_stream_x_floor", "CPU/stream, x python-floor"),
               ("gemini_stream_x_openai", "Gemini CPU/stream, x its chat stream's"),
               ("gemini_cpu_per_stream_x_nginx", "Gemini CPU/stream, x nginx's Gemini"),
               ("rps_c32_x_nginx", "req/s, x nginx"), ("rps_c32_x_litellm", "req/s, x LiteLLM"),
               ("added_c1_p50_x_nginx", "added c=1 p50, x nginx"),
               ("added_c1_p50_litellm_over_this", "added c=1 p50, LiteLLM / this"),
               ("rss_idle_x_nginx", "RSS idle, x nginx"),
               ("rss_idle_litellm_over_this", "RSS idle, LiteLLM / this"))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        return "| " + " | ".join(cells) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return [line(header), sep, *(line(r) for r in rows)]


def table(summary: dict[str, dict[str, Any]], rat: dict[str, dict[str, float | None]],
          gl: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown tables: the figures, the ratios, and the goals."""
    names = list(summary)
    out = _table(["figure", *names],
                 [[label, *(_fmt(summary[n].get(k)) for n in names)] for k, label in _ROWS])
    proxies = [n for n in names if n in rat]
    if proxies:
        out += ["", *_table(["ratio", *proxies],
                            [[label, *(_fmt(rat[n].get(k)) for n in proxies)] for k, label in _RATIO_ROWS])]
    for name, items in gl.items():
        out += ["", *_table([f"goal ({name})", "value", "limit", "met"],
                            [[g["goal"], _fmt(g["value"]), _fmt(g["limit"]),
                              {True: "yes", False: "NO", None: "n/a"}[g["met"]]] for g in items])]
    return "\n".join(out) + "\n"
