"""The PNG: added latency, CPU per request and CPU per streamed completion, side by side, one bar
group per proxy (matplotlib).

Log scales: LiteLLM is two to three orders of magnitude above the others. Values at or below zero
(the sidecar can tie with direct within noise) are drawn at the axis floor and labelled with the
real number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_LATENCY = (("added_c1_p50_ms", "c=1 p50"), ("added_c1_p99_ms", "c=1 p99"),
            ("added_c32_p50_ms", "c=32 p50"), ("added_ttfb_p50_ms", "stream TTFB p50"))
_FLOOR_MS, _FLOOR_US = 0.005, 1.0


def _label(ax: Any, bar: Any, text: str, size: int) -> None:
    ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                fontsize=size)


def draw(summary: dict[str, dict[str, Any]], path: Path, title: str) -> str | None:
    """Write the chart; returns None, or why it was not drawn (matplotlib missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]')"
    proxies = [n for n, s in summary.items() if s["kind"] != "direct"]
    fig, (left, right, streams) = plt.subplots(1, 3, figsize=(17, 5.2),
                                               gridspec_kw={"width_ratios": [3, 2, 2]})
    width = 0.8 / max(len(proxies), 1)
    for i, name in enumerate(proxies):
        vals = [summary[name].get(k) for k, _ in _LATENCY]
        xs = [j + (i - (len(proxies) - 1) / 2) * width for j in range(len(_LATENCY))]
        bars = left.bar(xs, [max(v or 0.0, _FLOOR_MS) for v in vals], width, label=name)
        for bar, v in zip(bars, vals, strict=True):
            _label(left, bar, "-" if v is None else f"{v:.3g}", 7)
    left.set_yscale("log")
    left.set_xticks(range(len(_LATENCY)), [label for _, label in _LATENCY])
    left.set_ylabel("added latency vs direct (ms, log)")
    left.set_title("Added latency (median over rounds)")
    left.legend(fontsize=8)
    for ax, key, ylabel, what in (
            (right, "cpu_us_per_req", "CPU per request (us, log)",
             "CPU per non-streaming request (proxy process)"),
            (streams, "cpu_us_per_stream", "CPU per stream (us, log)",
             "CPU per streamed completion, 64 chunks")):
        cpu = [summary[n].get(key) for n in proxies]
        bars = ax.bar(proxies, [max(v or 0.0, _FLOOR_US) for v in cpu],
                      color=[f"C{i}" for i in range(len(proxies))])
        for bar, v in zip(bars, cpu, strict=True):
            _label(ax, bar, "-" if v is None else f"{v:,.0f}", 8)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(what, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
