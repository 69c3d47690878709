"""Responses API streams: usage on the terminal event, whichever of the three it is."""

from __future__ import annotations

import pytest

from proxy.usage.base import Usage
from proxy.usage.responses import ResponsesStreamExtractor

from .streamkit import run, sse

USAGE = {"input_tokens": 16, "input_tokens_details": {"cached_tokens": 4,
                                                      "cache_write_tokens": 2},
         "output_tokens": 16, "output_tokens_details": {"reasoning_tokens": 10},
         "total_tokens": 32}
WANT = Usage(input_tokens=16, output_tokens=16, cache_read_tokens=4, cache_write_tokens=2,
             reasoning_tokens=10, model="gpt-r", response_id="resp_1", source="provider")


def response(status: str, usage: object = None) -> dict[str, object]:
    return {"id": "resp_1", "object": "response", "model": "gpt-r", "status": status,
            "usage": usage, "tool_usage": {"image_gen": {"input_tokens": 0}}}


def ev(kind: str, **extra: object) -> dict[str, object]:
    return {"type": kind, **extra}


def body(*events: dict[str, object], named: bool = True) -> bytes:
    return sse(*events, event_names=[str(e["type"]) for e in events] if named else None)


def stream() -> ResponsesStreamExtractor:
    return ResponsesStreamExtractor(max_line_bytes=1 << 20)


@pytest.mark.parametrize("terminal", ["response.completed", "response.incomplete",
                                      "response.failed"])
def test_terminal_events(terminal: str) -> None:
    events = (ev("response.created", response=response("in_progress")),
              ev("response.output_text.delta", delta="Hi"),
              ev(terminal, response=response(terminal.split(".")[1], USAGE)))
    assert run(stream, body(*events)) == WANT


def test_failed_before_generation_has_no_usage() -> None:
    events = (ev("response.created", response=response("in_progress")),
              ev("response.failed", response=response("failed")))
    assert run(stream, body(*events)) == Usage(model="gpt-r", response_id="resp_1")


def test_truncated_before_the_terminal_event() -> None:
    events = (ev("response.created", response=response("in_progress")),
              ev("response.output_text.delta", delta="Hi"))
    assert run(stream, body(*events)) == Usage(model="gpt-r", response_id="resp_1")


def test_no_event_lines_type_in_data() -> None:
    events = (ev("response.created", response=response("in_progress")),
              ev("response.completed", response=response("completed", USAGE)))
    assert run(stream, body(*events, named=False)) == WANT


def test_usage_on_non_terminal_events_is_ignored() -> None:
    events = (ev("response.in_progress", response=response("in_progress", USAGE)),)
    assert run(stream, body(*events)).source == "missing"
