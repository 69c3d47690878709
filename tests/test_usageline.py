"""The usage log line: every field a biller needs, absent stays null, and it reads back exactly."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from proxy.record import RequestRecord
from proxy.usage.base import MODALITIES, MODALITY_PARTS, Api, Usage
from proxy.usagelog import MAX_TEXT, decode_line, encode_line, iso_time
from proxy.usagelog.line import MAX_LINE_BYTES, TRUNCATED, Cuts, _secs
from tests.records import make, records


def test_one_line_with_every_field() -> None:
    rec = make(usage=Usage(input_tokens=11, output_tokens=4, cache_read_tokens=2,
                           source="provider", model="gpt-5-nano-2025-08-07", response_id="chatcmpl-1"))
    line = encode_line(rec, Decimal("0.0000451"))
    # T0 = 1790000000: `date -u -d @1790000000` says 2026-09-21T14:13:20.
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    doc = json.loads(line)
    assert doc == {
        "time": "2026-09-21T14:13:20.000000Z", "request_id": "sc_test01", "lava_request_id": "req_1",
        "customer": "cus_1", "meter": "tokens", "identity": "header", "provider": "openai",
        "api": "chat", "model": "gpt-5-nano", "response_model": "gpt-5-nano-2025-08-07",
        "response_id": "chatcmpl-1", "status": 200, "stream": True, "input_tokens": 11,
        "output_tokens": 4, "cache_read_tokens": 2, "cache_write_tokens": None,
        "reasoning_tokens": None, "tool_prompt_tokens": None, "modality_tokens": None,
        "input_characters": None, "audio_seconds": None,
        "source": "provider", "partial": False, "outcome": "ok", "error_code": None,
        "upstream_error": None, "extractor_error": False, "duration": 1.25, "ttfb": 0.3,
        "overhead": 0.0004, "charge_usd": "0.0000451",
    }


def test_gemini_details_are_kept_and_read_back() -> None:
    usage = Usage(input_tokens=300, output_tokens=130, cache_read_tokens=40, reasoning_tokens=114,
                  tool_prompt_tokens=41, source="provider",
                  modality_tokens=(("input", "image", 258), ("input", "text", 1),
                                   ("tool_prompt", "text", 41), ("output", "text", 16)))
    line = encode_line(make(usage=usage, provider="gemini", api=Api.GENERATE_CONTENT), None)
    doc = json.loads(line)
    assert doc["tool_prompt_tokens"] == 41
    assert doc["modality_tokens"] == {"input": {"image": 258, "text": 1}, "tool_prompt": {"text": 41},
                                      "output": {"text": 16}}
    decoded = decode_line(line)
    assert decoded is not None
    assert decoded[0].usage == usage


def test_a_breakdown_outside_the_fixed_sets_is_not_a_line_of_ours() -> None:
    line = encode_line(make(usage=Usage(input_tokens=1, source="provider",
                                        modality_tokens=(("input", "text", 1),))), None)
    assert decode_line(line.replace(b'"text"', b'"smell"')) is None
    assert decode_line(line.replace(b'"input":{', b'"thinking":{')) is None


def test_absent_is_null_not_zero_and_unpriced_has_no_charge() -> None:
    doc = json.loads(encode_line(make(usage=Usage(), outcome="timeout", status=504), None))
    assert doc["input_tokens"] is None
    assert doc["output_tokens"] is None
    assert doc["source"] == "missing"
    assert doc["charge_usd"] is None


def test_decimals_render_fixed_point() -> None:
    doc = json.loads(encode_line(make(usage=Usage(audio_seconds=Decimal("1E+1"), source="provider")),
                                 Decimal("1E-7")))
    assert doc["audio_seconds"] == "10"
    assert doc["charge_usd"] == "0.0000001"


def test_client_text_is_bounded_and_cannot_break_the_line() -> None:
    cuts = Cuts()
    rec = make(model="evil\nmodel\r\u2028" + "x" * 1000)
    line = encode_line(rec, None, cuts)
    assert line.count(b"\n") == 1
    model = json.loads(line)["model"]
    assert model.startswith("evil\nmodel\r\u2028xxx")
    assert model.endswith(TRUNCATED)
    # The bound is on the bytes in the line: the escapes (\n, \r, \u2028) count as written.
    assert len(json.dumps(model)) - 2 == MAX_TEXT
    assert cuts.n == 1


def test_ascii_text_up_to_the_bound_is_kept_whole_and_not_counted() -> None:
    cuts = Cuts()
    doc = json.loads(encode_line(make(model="m" * MAX_TEXT), None, cuts))
    assert (doc["model"], cuts.n) == ("m" * MAX_TEXT, 0)
    doc = json.loads(encode_line(make(model="m" * (MAX_TEXT + 1)), None, cuts))
    assert (doc["model"], cuts.n) == ("m" * (MAX_TEXT - len(TRUNCATED)) + TRUNCATED, 1)


def test_the_worst_line_fits_the_bound() -> None:
    """Every text field at its longest, in the costliest escapes (12 bytes for an astral
    character, 6 for a control one); every number at its longest; absurd decimals."""
    cuts = Cuts()
    astral, control = "\U0001f600" * 400, "\x01" * 400
    usage = Usage(input_tokens=2**53, output_tokens=2**53, cache_read_tokens=2**53,
                  cache_write_tokens=2**53, reasoning_tokens=2**53, input_characters=2**53,
                  tool_prompt_tokens=2**53, audio_seconds=Decimal("9e999999"), model=astral,
                  response_id=control, source="provider",
                  modality_tokens=tuple((p, m, 2**53) for p in MODALITY_PARTS
                                        for m in sorted(MODALITIES)))
    rec = make(request_id=astral, lava_request_id=control, customer_id=astral, meter_slug=control,
               identity_via=astral, provider=control, model=astral, status=599, usage=usage,
               error_code=control, upstream_error=astral, duration=-1234567890123.123456,
               ttfb=1.7976931348623157e308, overhead=-2.2250738585072014e-308)
    longest = encode_line(rec, Decimal("1" * 32 + "." + "1" * 31), cuts)  # 64 characters: kept
    assert len(longest) <= MAX_LINE_BYTES, len(longest)
    assert json.loads(longest)["charge_usd"] == "1" * 32 + "." + "1" * 31
    for charge in (Decimal("9e999999"), Decimal("-1e-999999"), Decimal("1." + "1" * 10_000),
                   Decimal("1" * 40 + "." + "1" * 30)):
        line = encode_line(rec, charge, cuts)
        assert len(line) <= MAX_LINE_BYTES, len(line)
        doc = json.loads(line)
        assert doc["charge_usd"] is None
        assert doc["audio_seconds"] is None
        assert doc["model"].endswith(TRUNCATED)
        assert doc["error_code"].endswith(TRUNCATED)
        decoded = decode_line(line)
        assert decoded is not None
        assert encode_line(*decoded) == line
    # 11 long text fields and two decimals, per line (the kept charge: 11 fields and audio).
    assert cuts.n == 4 * 13 + 12


def test_a_long_but_ordinary_charge_is_kept() -> None:
    cuts = Cuts()
    charge = Decimal("12345678901234567.0123456789")  # the largest a bounded price can charge
    assert json.loads(encode_line(make(), charge, cuts))["charge_usd"] == str(charge)
    assert cuts.n == 0


@given(rec=records(), charge=st.none() | st.decimals(min_value=0, max_value=10**6, places=10))
def test_a_written_line_reads_back_to_the_same_line(rec: RequestRecord,
                                                    charge: Decimal | None) -> None:
    line = encode_line(rec, charge)
    decoded = decode_line(line)
    assert decoded is not None
    back, back_charge = decoded
    assert encode_line(back, back_charge) == line
    assert back.usage.source == rec.usage.source
    assert back.customer_id == rec.customer_id
    assert back.meter_slug == rec.meter_slug
    assert back.outcome == rec.outcome
    assert (back.usage.input_tokens, back.usage.output_tokens) == (
        rec.usage.input_tokens, rec.usage.output_tokens)
    assert back_charge == charge


@given(ts=st.floats(min_value=0, max_value=4_102_444_800))  # 1970 … 2100
def test_iso_time_prints_what_datetime_prints(ts: float) -> None:
    assert iso_time(ts) == datetime.fromtimestamp(ts, UTC).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


@given(rec=records(), charge=st.none() | st.decimals(allow_nan=True, allow_infinity=True))
def test_every_line_is_valid_json_even_for_odd_values(rec: RequestRecord,
                                                     charge: Decimal | None) -> None:
    odd = make(model=rec.model, duration=float("nan"), ttfb=float("inf"),
               usage=Usage(audio_seconds=Decimal("NaN"), model="\x00\ud800", source="provider"))
    for r in (rec, odd):
        doc = json.loads(encode_line(r, charge))
        assert doc["charge_usd"] is None or Decimal(doc["charge_usd"]).is_finite()


@given(rec=records(), cut=st.integers(min_value=1))
def test_a_torn_line_is_never_mistaken_for_a_record(rec: RequestRecord, cut: int) -> None:
    line = encode_line(rec, None)
    torn = line[: cut % (len(line) - 1)]  # any proper prefix short of the closing brace
    assert decode_line(torn) is None


def test_foreign_lines_are_skipped() -> None:
    good = json.loads(encode_line(make(), None))
    assert decode_line(b"") is None
    assert decode_line(b"\x00\xff garbage") is None
    assert decode_line(b"[1, 2]") is None
    for key, bad in [("input_tokens", "11"), ("input_tokens", True), ("status", None),
                     ("source", "guessed"), ("api", "chat2"), ("audio_seconds", "NaN"),
                     ("time", "yesterday"), ("stream", 1)]:
        assert decode_line(json.dumps({**good, key: bad}).encode()) is None, key
    assert decode_line(json.dumps(good).encode()) is not None
    assert make().api is Api.CHAT


@given(st.floats(allow_nan=True, allow_infinity=True)
       | st.floats(min_value=0, max_value=2e9)
       | st.floats(min_value=0.00009, max_value=0.00011)
       | st.sampled_from([0.0001, 0.00009999995, 0.00010000005, 1e9, 999999999.9999996, 0.5e-6,
                          1.5e-6, 2.5e-6, 0.0, -0.0, -1.25, 1.0, 123.4567895]))
def test_seconds_print_as_repr_of_round(value: float) -> None:
    expected = repr(round(value, 6)) if math.isfinite(value) else "null"
    assert _secs(value) == expected
