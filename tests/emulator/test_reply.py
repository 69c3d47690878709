from __future__ import annotations

from proxy.emulator.reply import Part, Reply, delivered_usage, reported_usage
from proxy.usage.base import MISSING, Usage

FULL = Usage(input_tokens=10, output_tokens=6, model="m", source="provider")
START = Usage(input_tokens=10, output_tokens=1, source="provider")
PARTS = (Part(b"start", reports=START), Part(b"a", 2), Part(b"b", 4), Part(b"end", reports=FULL))
REPLY = Reply(200, (), PARTS, stream=True, usage=FULL)


def test_whole_reply_gives_all_of_its_usage() -> None:
    assert delivered_usage(REPLY, PARTS, headers_sent=True, complete=True) == FULL
    assert reported_usage(PARTS) == FULL


def test_cut_stream_counts_delivered_output_only() -> None:
    got = delivered_usage(REPLY, PARTS[:2], headers_sent=True, complete=False)
    assert (got.input_tokens, got.output_tokens) == (10, 2)
    assert reported_usage(PARTS[:2]) == START


def test_nothing_served_is_missing() -> None:
    assert delivered_usage(REPLY, (), headers_sent=False, complete=False) is MISSING
    assert reported_usage(()) is MISSING
    error = Reply(500, (), (Part(b"{}"),), usage=FULL)
    assert delivered_usage(error, error.parts, headers_sent=True, complete=True) is MISSING


def test_sizes_count_repeats() -> None:
    assert Reply(200, (), (Part(b"ab", repeat=3), Part(b"c"))).size == 7
