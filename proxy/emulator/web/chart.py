"""Usage per day per customer as a stacked bar chart, drawn on the server as SVG (no script, no
external asset): one bar per day, one colour per customer series, a ``<title>`` on every segment
for its exact value, a legend with each series' total. Pure: a ``UsageGrid`` in, Markup out."""

from __future__ import annotations

import math
from decimal import Decimal

from .layout import count, usd
from .markup import Markup, el, join
from .queries import Metric, UsageGrid

PALETTE = ("#e8432f", "#3b6fd8", "#1e9e6a", "#c58a00", "#8e44ad", "#00a3b4", "#d35d9e",
           "#6b8e23", "#9a98a8")
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 12, 12, 30
#: At most this many day labels under the bars; the others are left out.
_MAX_LABELS = 12


def fmt(value: Decimal, metric: Metric) -> str:
    return usd(value) if metric == "charge" else count(int(value))


def nice_step(value: Decimal, metric: Metric) -> Decimal:
    """The smallest 1, 2 or 5 times 10^k at least ``value``: the gap between gridlines (a whole
    number for counts)."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(10) ** math.floor(math.log10(value))
    step = next(power * k for k in (1, 2, 5, 10) if power * k >= value)
    return max(step, Decimal(1)) if metric != "charge" else step


def axis_ticks(peak: Decimal, metric: Metric, lines: int = 4) -> list[Decimal]:
    """Gridline values from 0: at most ``lines`` steps above 0, the last at or above ``peak``."""
    step = nice_step(peak / lines, metric)
    n = max(1, math.ceil(peak / step))
    return [step * k for k in range(n + 1)]


def colour(i: int) -> str:
    return PALETTE[min(i, len(PALETTE) - 1)]


def _axis(ticks: list[Decimal], metric: Metric, width: int, plot_h: float) -> list[Markup]:
    out = []
    for k, value in enumerate(ticks):
        y = _TOP + plot_h - plot_h * k / (len(ticks) - 1)
        out.append(el("line", {"x1": _LEFT, "x2": width - _RIGHT, "y1": f"{y:.1f}",
                               "y2": f"{y:.1f}", "stroke": "#e4e2ee"}))
        out.append(el("text", {"x": _LEFT - 6, "y": f"{y + 4:.1f}", "text-anchor": "end"},
                      fmt(value, metric)))
    return out


def bar_chart(grid: UsageGrid, *, width: int = 900, height: int = 260) -> Markup:
    days = grid.days
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    totals = [sum((s.values[i] for s in grid.series), Decimal(0)) for i in range(len(days))]
    ticks = axis_ticks(max(totals, default=Decimal(0)), grid.metric)
    top = ticks[-1]
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    parts: list[Markup] = _axis(ticks, grid.metric, width, plot_h)
    every = max(1, math.ceil(len(days) / _MAX_LABELS))
    for i, day in enumerate(days):
        x = _LEFT + slot * i + (slot - bar) / 2
        base = float(_TOP + plot_h)
        for n, s in enumerate(grid.series):
            v = s.values[i]
            if v <= 0:
                continue
            h = float(v / top) * plot_h
            base -= h
            parts.append(el("rect", {"x": f"{x:.1f}", "y": f"{base:.1f}", "width": f"{bar:.1f}",
                                     "height": f"{max(h, 0.5):.1f}", "fill": colour(n)},
                            el("title", None, f"{s.label}, {day.isoformat()}: "
                                              f"{fmt(v, grid.metric)}")))
        if i % every == 0 or i == len(days) - 1:
            parts.append(el("text", {"x": f"{x + bar / 2:.1f}", "y": height - 10,
                                     "text-anchor": "middle"}, day.strftime("%m-%d")))
    if not grid.series:
        parts.append(el("text", {"x": _LEFT + plot_w / 2, "y": _TOP + plot_h / 2,
                                 "text-anchor": "middle"}, "No usage in this window"))
    label = (f"{grid.metric} per day per customer, {days[0].isoformat()} to "
             f"{days[-1].isoformat()}" if days else "usage")
    svg = el("svg", {"xmlns": "http://www.w3.org/2000/svg", "viewbox": f"0 0 {width} {height}",
                     "width": width, "height": height, "role": "img", "aria-label": label,
                     "id": "usage-chart"}, parts)
    return el("div", {"class": "chart"}, svg, legend(grid))


def swatch(i: int) -> Markup:
    return el("svg", {"width": 10, "height": 10, "aria-hidden": "true"},
              el("rect", {"width": 10, "height": 10, "rx": 2, "fill": colour(i)}))


def legend(grid: UsageGrid) -> Markup:
    items = [el("li", {"data-series": s.key}, swatch(i), " ", s.label, " ",
                el("span", {"class": "muted"}, fmt(s.total, grid.metric)))
             for i, s in enumerate(grid.series)]
    return el("ul", {"class": "legend"}, join(items)) if items else Markup("")
