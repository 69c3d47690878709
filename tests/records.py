"""Building ``RequestRecord``s for the metering tests: a plain factory and a hypothesis strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from proxy.record import RequestRecord
from proxy.usage.base import MODALITIES, MODALITY_PARTS, Api, Usage

T0 = 1_790_000_000.0


def written_lines(path: Path) -> list[dict[str, Any]]:
    """The usage log's lines so far, parsed. The writer appends batches while a test reads: a last
    line without its newline is still being written (a log shipper waits for it too), so it is
    left out, never parsed half-written."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data[:data.rfind(b"\n") + 1].splitlines() if line]


def make(**kw: Any) -> RequestRecord:
    """A successful streamed chat request for ``cus_1`` on meter ``tokens``; override any field."""
    usage = kw.pop("usage", None) or Usage(input_tokens=11, output_tokens=4, source="provider",
                                           model="gpt-5-nano-2025-08-07")
    base: dict[str, Any] = {
        "request_id": "sc_test01", "lava_request_id": "req_1", "started_at": T0,
        "customer_id": "cus_1", "meter_slug": "tokens", "identity_via": "header",
        "provider": "openai", "api": Api.CHAT, "model": "gpt-5-nano", "status": 200,
        "stream": True, "usage": usage, "partial": False, "outcome": "ok", "duration": 1.25,
        "ttfb": 0.3, "overhead": 0.0004,
    }
    base.update(kw)
    return RequestRecord(**base)


_count = st.none() | st.integers(min_value=0, max_value=5_000_000)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    source = draw(st.sampled_from(["provider", "estimated", "missing"]))
    if source == "missing":
        return Usage(model=draw(st.none() | _text))
    return Usage(
        input_tokens=draw(_count), output_tokens=draw(_count), cache_read_tokens=draw(_count),
        cache_write_tokens=draw(_count), reasoning_tokens=draw(_count),
        tool_prompt_tokens=draw(_count), input_characters=draw(_count),
        audio_seconds=draw(st.none() | st.decimals(min_value=0, max_value=10_000, places=3)),
        model=draw(st.none() | _text), response_id=draw(st.none() | _text), source=source,
        modality_tokens=draw(_modality_tokens),
    )


# What the Gemini reader builds: parts in MODALITY_PARTS order, each part's modalities sorted.
_modality_tokens = st.lists(
    st.tuples(st.sampled_from(MODALITY_PARTS), st.sampled_from(sorted(MODALITIES)),
              st.integers(min_value=0, max_value=5_000_000)),
    max_size=6, unique_by=lambda t: (t[0], t[1]),
).map(lambda pieces: tuple(sorted(pieces, key=lambda t: (MODALITY_PARTS.index(t[0]), t[1]))))


@st.composite
def records(draw: st.DrawFn, customers: tuple[str, ...] = ("cus_a", "cus_b", "cus_c"),
            meters: tuple[str, ...] = ("tokens", "chars", "audio", "calls", "free")) -> RequestRecord:
    outcome = draw(st.sampled_from(["ok", "ok", "ok", "rejected", "upstream_error", "timeout",
                                    "client_disconnect"]))
    customer = draw(st.none() | st.sampled_from(customers))
    return RequestRecord(
        request_id="sc_" + draw(st.text("0123456789abcdef", min_size=8, max_size=8)),
        lava_request_id=draw(st.none() | st.just("req_x")),
        started_at=draw(st.floats(min_value=T0, max_value=T0 + 86_400)),
        customer_id=customer,
        meter_slug=draw(st.none() | st.sampled_from(meters)),
        identity_via="header" if customer else draw(st.sampled_from(["merchant", "none"])),
        provider=draw(st.sampled_from(["openai", "anthropic", "groq", ""])),
        api=draw(st.sampled_from(list(Api))),
        model=draw(st.none() | st.sampled_from(["gpt-5", "claude-sonnet-4-5", "x" * 300]) | _text),
        status=draw(st.sampled_from([0, 200, 400, 401, 402, 429, 500, 502, 503, 504])),
        stream=draw(st.booleans()),
        usage=draw(usages()),
        partial=draw(st.booleans()),
        outcome=outcome,
        duration=draw(st.floats(min_value=0, max_value=900, allow_nan=False)),
        ttfb=draw(st.none() | st.floats(min_value=0, max_value=900, allow_nan=False)),
        overhead=draw(st.none() | st.floats(min_value=0, max_value=1, allow_nan=False)),
        error_code=draw(st.none() | st.sampled_from(["route_not_found", "customer_missing"])),
        upstream_error=draw(st.none() | st.sampled_from(["dns", "reset", "timeout_idle"])),
        extractor_error=draw(st.booleans()),
    )
