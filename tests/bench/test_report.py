"""The report: added = target minus direct in the same round (median over rounds), ratios, goals."""

from __future__ import annotations

from statistics import median
from typing import Any

from bench import report

NAMES = ("direct", "nginx", "sidecar-lean", "litellm")
KINDS = {"direct": "direct", "nginx": "nginx", "sidecar-lean": "sidecar", "litellm": "litellm"}
# (c=1 p50 ms, CPU us/request, TTFB p50 ms) per round and target: direct first.
P50 = {"direct": [0.04, 0.05, 0.30], "nginx": [0.10, 0.09, 0.41], "sidecar-lean": [0.30, 0.50, 0.45],
       "litellm": [14.0, 15.0, 16.0]}
CPU = {"direct": [None] * 3, "nginx": [30.0, 29.0, 31.0], "sidecar-lean": [100.0, 90.0, 140.0],
       "litellm": [12500.0, 12400.0, 12600.0]}
TTFB = {"direct": [0.2, 0.2, 0.4], "nginx": [0.3, 0.25, 0.5], "sidecar-lean": [0.9, 1.4, 1.2],
        "litellm": [20.0, 21.0, 22.0]}
# CPU per streamed completion (us) per round and target, and its chunks (the per-chunk divisor).
STREAM_CPU = {"direct": [None] * 3, "nginx": [1500.0, 1600.0, 1400.0],
              "sidecar-lean": [1900.0, 2100.0, 2000.0], "litellm": [90000.0, 91000.0, 92000.0]}
EVENTS = {"direct": 66, "nginx": 66, "sidecar-lean": 67, "litellm": 66}
# The same for the Gemini stream (65 events everywhere); LiteLLM has no Gemini route to the fake.
GEMINI_CPU = {"direct": [None] * 3, "nginx": [1700.0, 1500.0, 1600.0],
              "sidecar-lean": [2000.0, 2400.0, 2100.0], "litellm": [None] * 3}


def _rounds() -> list[dict[str, Any]]:
    out = []
    for i in range(3):
        fig = {n: {"p50_ms": P50[n][i], "p99_ms": P50[n][i] * 3, "rps": 100.0 * (i + 1), "errors": 0,
                   "steal_pct": 1.0} for n in NAMES}
        load = {n: {**fig[n], "cpu_us_per_req": CPU[n][i], "upstream_cpu_us_per_req": 20.0} for n in NAMES}
        streams = {n: {"ttfb_p50_ms": TTFB[n][i], "ttfb_p99_ms": TTFB[n][i] * 2, "gap_p50_ms": 20.0,
                       "gap_p99_ms": 22.0, "gap_max_ms": 25.0, "held_back_chunks": 1 if n == "nginx" else 0,
                       "usage_chunks_seen": 0, "errors": 0, "steal_pct": 0.0,
                       "client_lag_max_ms": 0.5 * (i + 1)} for n in NAMES}
        stream_cpu = {n: {"cpu_us_per_stream": STREAM_CPU[n][i], "errors": 0, "usage_chunks_seen": 0,
                          "cpu_us_per_chunk": None if STREAM_CPU[n][i] is None
                          else STREAM_CPU[n][i] / EVENTS[n]} for n in NAMES}
        gemini = {n: {"cpu_us_per_stream": GEMINI_CPU[n][i], "errors": 0, "steal_pct": 0.0,
                      "cpu_us_per_chunk": None if GEMINI_CPU[n][i] is None
                      else GEMINI_CPU[n][i] / 65} for n in NAMES}
        out.append({"c1": fig, "load": load, "streams": streams, "stream_cpu": stream_cpu,
                    "gemini_stream_cpu": gemini})
    return out


def _facts() -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {n: {"kind": KINDS[n], "other_errors": 0} for n in NAMES}
    for n, rss in (("nginx", 14.0), ("sidecar-lean", 45.0), ("litellm", 350.0)):
        facts[n].update(startup_s=0.5, rss_start_mb=rss, rss_idle_mb=rss, rss_streams_mb=rss * 2,
                        streams_held=1000, rss_after_mb=rss)
    facts["sidecar-lean"]["other_errors"] = 2
    return facts


def test_summary_has_every_figure_and_added_is_per_round() -> None:
    s = report.summarize(_rounds(), _facts())
    for name in NAMES:
        assert all(s[name][k] is not None for k in report.BASE_FIGURES), name
    for name in NAMES[1:]:
        assert all(s[name][k] is not None for k in report.PROXY_FIGURES), name
        assert all(s[name][k] is not None for k in report.STREAM_CPU_FIGURES), name
    assert s["sidecar-lean"]["cpu_us_per_stream"] == median(STREAM_CPU["sidecar-lean"])
    assert s["sidecar-lean"]["cpu_us_per_chunk"] == round(median(STREAM_CPU["sidecar-lean"]) / 67, 2)
    want = median(a - b for a, b in zip(P50["sidecar-lean"], P50["direct"], strict=True))
    assert s["sidecar-lean"]["added_c1_p50_ms"] == round(want, 3)
    assert s["sidecar-lean"]["cpu_us_per_req"] == median(CPU["sidecar-lean"])
    assert s["nginx"]["client_lag_max_ms"] == 1.5  # the worst round's
    assert s["sidecar-lean"]["errors"] == 2
    assert s["nginx"]["held_back_chunks"] == 3
    assert "added_c1_p50_ms" not in s["direct"]


def test_ratios_and_goals() -> None:
    s = report.summarize(_rounds(), _facts())
    r = report.ratios(s)
    assert "direct" not in r
    cpu = {n: median(CPU[n]) for n in ("nginx", "sidecar-lean", "litellm")}
    assert r["sidecar-lean"]["cpu_per_req_x_nginx"] == round(cpu["sidecar-lean"] / cpu["nginx"], 2)
    over = cpu["litellm"] / cpu["sidecar-lean"]
    assert r["sidecar-lean"]["cpu_per_req_litellm_over_this"] == round(over, 2)
    goals = {g["goal"]: g for g in report.goals(s, r, hold=1000)["sidecar-lean"]}
    assert set(report.goals(s, r, hold=1000)) == {"sidecar-lean"}
    assert goals["CPU per request <= 4x nginx"]["met"] is (cpu["sidecar-lean"] / cpu["nginx"] <= 4)
    assert goals["CPU per request >= 50x less than LiteLLM"]["met"] is (over >= 50)
    stream_x = median(STREAM_CPU["sidecar-lean"]) / median(STREAM_CPU["nginx"])
    assert r["sidecar-lean"]["cpu_per_stream_x_nginx"] == round(stream_x, 2)
    assert goals["CPU per streamed chat completion <= 1.3x nginx"]["met"] is (stream_x <= 1.3)
    chunk = s["sidecar-lean"]["cpu_us_per_chunk"] - s["nginx"]["cpu_us_per_chunk"]
    assert r["sidecar-lean"]["cpu_per_chunk_minus_nginx_us"] == round(chunk, 2)
    added_ttfb = median(a - b for a, b in zip(TTFB["sidecar-lean"], TTFB["direct"], strict=True))
    assert goals["added time to first byte, p50 <= 1 ms"]["met"] is (added_ttfb <= 1)
    assert goals["no chunk held back"]["met"] is True
    assert goals["RSS with 1000 open streams <= 150 MB"]["met"] is True


def test_gemini_stream_figures_and_goal_compare_within_each_round() -> None:
    s = report.summarize(_rounds(), _facts())
    r = report.ratios(s)
    assert all(s[n][k] is not None for n in ("nginx", "sidecar-lean")
               for k in report.GEMINI_STREAM_CPU_FIGURES)
    assert s["litellm"]["gemini_cpu_us_per_stream"] is None
    assert s["sidecar-lean"]["gemini_cpu_us_per_stream"] == median(GEMINI_CPU["sidecar-lean"])
    assert s["sidecar-lean"]["gemini_cpu_us_per_chunk"] == round(median(GEMINI_CPU["sidecar-lean"]) / 65, 2)
    # Per round 2000/1900, 2400/2100, 2100/2000: the median of those, not 2100/2000 of the medians.
    per_round = [g / o for g, o in zip(GEMINI_CPU["sidecar-lean"], STREAM_CPU["sidecar-lean"], strict=True)]
    assert s["sidecar-lean"]["gemini_stream_x_openai"] == round(median(per_round), 3) != round(2100 / 2000, 3)
    assert r["sidecar-lean"]["gemini_stream_x_openai"] == round(median(per_round), 2)
    assert r["sidecar-lean"]["gemini_cpu_per_stream_x_nginx"] == round(2100 / 1600, 2)
    goals = {g["goal"]: g for g in report.goals(s, r, hold=1000)["sidecar-lean"]}
    goal = goals["Gemini stream CPU within 10% of the OpenAI chat stream (Gemini / OpenAI)"]
    assert (goal["value"], goal["limit"], goal["met"]) == (round(median(per_round), 3), 1.1,
                                                          median(per_round) <= 1.1)
    text = report.table(s, r, report.goals(s, r, hold=1000))
    assert "CPU per streamed Gemini completion (us)" in text
    assert "CPU per Gemini chunk (us)" in text


def test_without_litellm_its_goal_is_not_applicable() -> None:
    rounds = _rounds()
    for rnd in rounds:
        for phase in ("c1", "load", "streams", "stream_cpu", "gemini_stream_cpu"):
            del rnd[phase]["litellm"]
    facts = _facts()
    del facts["litellm"]
    s = report.summarize(rounds, facts)
    goals = {g["goal"]: g["met"] for g in report.goals(s, report.ratios(s), hold=1000)["sidecar-lean"]}
    assert goals["CPU per request >= 50x less than LiteLLM"] is None


def test_table_names_every_target_and_goal() -> None:
    s = report.summarize(_rounds(), _facts())
    r = report.ratios(s)
    text = report.table(s, r, report.goals(s, r, hold=1000))
    header = text.splitlines()[0]
    assert all(n in header for n in NAMES)
    assert "goal (sidecar-lean)" in text
    assert "| -" not in header


def test_the_redis_quota_goals_compare_with_the_priced_sidecar_when_it_ran() -> None:
    # The quota targets price the bench's meter (a spend reservation needs a price): their cost is
    # measured against the same sidecar with the meter priced, when the run has it.
    def summary(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        figures = {"sidecar-lean": (80.0, 2.0), "sidecar-priced": (86.0, 2.2),
                   "sidecar-quota-redis": (120.0, 3.2)}
        return {n: {"kind": "sidecar", "cpu_us_per_req": figures[n][0],
                    "latency_c32_p50_ms": figures[n][1]} for n in names}

    both = summary(("sidecar-lean", "sidecar-priced", "sidecar-quota-redis"))
    extra = report.goals(both, {}, hold=1000)["sidecar-quota-redis"][-2:]
    assert [(g["goal"], g["value"], g["met"]) for g in extra] == [
        ("Redis quotas add <= 40 us CPU per request (vs sidecar-priced)", 34.0, True),
        ("latency c=32 p50 <= 1.5x sidecar-priced", 1.455, True)]
    lean_only = summary(("sidecar-lean", "sidecar-quota-redis"))
    extra = report.goals(lean_only, {}, hold=1000)["sidecar-quota-redis"][-2:]
    assert [(g["goal"], g["value"], g["met"]) for g in extra] == [
        ("Redis quotas add <= 40 us CPU per request (vs sidecar-lean)", 40.0, True),
        ("latency c=32 p50 <= 1.5x sidecar-lean", 1.6, False)]
