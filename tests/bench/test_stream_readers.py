"""bench.stream_readers: every reader row is printed with a figure per stream and per event."""

from __future__ import annotations

import pytest

from bench import stream_readers
from proxy.usage import strip


def test_a_small_run_prints_every_reader(capsys: pytest.CaptureFixture[str]) -> None:
    assert stream_readers.main(["--rounds", "1", "--streams", "2"]) == 0
    rows = {line[:24].strip(): line[24:].split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(rows) == {"one pass", "one pass, nulls kept", "extractor only", "gemini", "anthropic"}
    assert all(len(v) == 2 and float(v[0]) > 0 and float(v[1]) > 0 for v in rows.values())
    # The nulls-kept variant puts the stripper's markers back when it is done.
    assert strip._NULL_END == b',"usage":null}\n\n'
    assert strip._NULL_MEMBER == b',"usage":null'
