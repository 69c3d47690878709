"""The config file read with bounds (issue 24): at most 1 MiB, refused with one sentence before it is
read; YAML anchors and aliases refused before anything is built; nesting bounded; every problem
quotes at most a few dozen characters of a value (with a marker) and there are at most 50 of them
plus a count; the same reader at start (``serve``), in ``check-config`` and in a reload, which runs
in a worker thread under a time bound and refuses a second load while one overran."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from bench.reload_probe import alias_bomb
from proxy.config import Settings, load_settings
from proxy.config.reading import MAX_CONFIG_BYTES, MAX_DEPTH, load_yaml_file
from proxy.config.watch import ConfigSource, ConfigWatcher
from proxy.errors import ConfigError

from .conftest import TEST_SECRET

ENV = {"LAVA_SECRET_KEY": TEST_SECRET}
LAVA_SIDECAR = Path(sys.executable).with_name("lava-sidecar")
#: A problem's sentence, key included, fits on a line or two.
SHORT = 300


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    return [str(p) for p in caught.value.problems]


def only_problem(path: Path) -> str:
    found = problems(path)
    assert len(found) == 1, found
    assert len(found[0]) < SHORT, found[0]
    return found[0]


def test_a_file_over_1_mib_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    msg = only_problem(path)
    assert f"{path.stat().st_size:,} bytes, over the sidecar's limit of 1,048,576 (1 MiB)" in msg
    assert "padding" not in msg


def test_a_file_just_under_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "padded.yaml"
    text = "listen: 127.0.0.1:9999\n"
    path.write_text(text + "#" * (MAX_CONFIG_BYTES - len(text) - 1) + "\n")
    assert path.stat().st_size == MAX_CONFIG_BYTES
    assert load_settings(path, ENV).listen.port == 9999


def test_an_alias_bomb_is_refused_at_its_first_anchor(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    started = time.perf_counter()
    msg = only_problem(path)
    assert time.perf_counter() - started < 5  # nothing was expanded (expanding it takes GBs)
    assert "YAML anchors and aliases (&name, *name) are not accepted" in msg
    assert "(line 1)" in msg
    assert "lol" not in msg


@pytest.mark.parametrize("text", ["base: &b {a: 1}\n", "a: 1\nb: [1, &x 2]\n",
                                  "providers:\n  openai:\n    prefix: *nowhere\n"])
def test_any_anchor_or_alias_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert "anchors and aliases" in only_problem(path)


def test_nesting_is_bounded(tmp_path: Path) -> None:
    deep, ok = tmp_path / "deep.yaml", tmp_path / "ok.yaml"
    deep.write_text("x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")
    ok.write_text("x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    assert f"nested more than {MAX_DEPTH} levels deep (line 1)" in only_problem(deep)
    assert load_yaml_file(ok) == {"x": _nested(MAX_DEPTH - 1)}


def _nested(n: int) -> list[object]:
    out: list[object] = []
    for _ in range(n - 1):
        out = [out]
    return out


def test_invalid_yaml_names_the_place_and_quotes_nothing_long(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("listen: 127.0.0.1:1\nkey: 'never closed " + "x" * 100_000 + "\n")
    msg = only_problem(path)
    assert "not valid YAML at line" in msg
    assert "xxxxxxxxxx" not in msg


def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"listen: 127.0.0.1:1\nname: caf\xe9\n")
    assert "not UTF-8 text (byte 29 cannot be decoded)" in only_problem(path)


def test_a_long_value_is_quoted_cut_with_a_marker(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(f"listen: '{'9' * 100_000}'\nlogging:\n  level: [{', '.join(['debug'] * 50_000)}]\n")
    found = problems(path)
    assert len(found) == 2
    for msg in found:
        assert len(msg) < SHORT, msg
        assert "… (truncated" in msg
    listen = next(m for m in found if m.startswith("listen"))
    assert "(truncated, 100,000 characters)" in listen


def test_a_value_yaml_cannot_convert_is_a_sentence_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "digits.yaml"
    path.write_text(f"listen: {'9' * 100_000}\n")  # an int past Python's 4,300-digit conversion limit
    msg = only_problem(path)
    assert "a value in the file cannot be read" in msg
    assert "999999999" not in msg


def test_long_keys_are_cut_and_problems_are_capped_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"unknown_{i:04d}{'k' * (1000 if i == 0 else 0)}: 1\n" for i in range(200)))
    found = problems(path)
    assert len(found) == 51
    assert all(len(p) < SHORT for p in found)
    assert found[0].startswith("unknown_0000kkkk")
    assert "… (truncated" in found[0]
    assert found[-1].endswith("150 more problem(s) not listed; fix these first")


def test_a_secret_file_is_read_bounded(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("aks_test_" + "x" * 70_000)
    path = tmp_path / "c.yaml"
    path.write_text(f"secret_key: {{file: {secret}}}\n")
    assert "is over 64 KiB; it should hold one key" in only_problem(path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LAVA_SIDECAR), *args], capture_output=True, text=True, timeout=60,
                          env={"LAVA_SECRET_KEY": TEST_SECRET, "PATH": "/usr/bin:/bin"})


def test_check_config_and_serve_refuse_the_same_files_in_a_line(tmp_path: Path) -> None:
    bomb, big = tmp_path / "bomb.yaml", tmp_path / "big.yaml"
    bomb.write_text(alias_bomb())
    big.write_bytes(b"# x\n" * (8 * 1024 * 1024 // 4))
    checked = run("check-config", "--config", str(bomb))
    assert checked.returncode == 1
    assert "anchors and aliases" in checked.stderr
    assert len(checked.stderr) < 400
    served = run("serve", "--config", str(big), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
    assert served.returncode == 2
    assert "8,388,608 bytes, over the sidecar's limit" in served.stderr
    assert len(served.stderr) < 500


class Applied:
    """The watcher's ``apply`` seam: what a reload handed over (the app's ``reload`` in serve)."""

    def __init__(self) -> None:
        self.settings: list[Settings] = []

    async def __call__(self, new: Settings) -> list[str]:
        self.settings.append(new)
        return []


async def test_a_reload_that_overruns_its_time_bound_is_refused_and_not_piled_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAVA_SECRET_KEY", TEST_SECRET)  # the source reads the environment, as serve does
    path = tmp_path / "c.yaml"
    # ~1 MiB of valid YAML: a tenth of a second or more to parse, far over the bound below.
    path.write_text("metadata:\n  static:\n" + "".join(f"    k{i:06d}: {'v' * 60}\n"
                                                      for i in range(14_000)))
    applied = Applied()
    watcher = ConfigWatcher(ConfigSource(str(path)), applied, CollectorRegistry(),
                            load_timeout=0.001)
    assert not await watcher.reload("SIGHUP")
    # The thread is still on that load: the next reload is refused, not queued behind it.
    assert not await watcher.reload("SIGHUP")
    texts = [r.getMessage() for r in caplog.records]
    assert any("took over 0.001 s" in t for t in texts)
    assert any("an earlier reload is still reading the file" in t for t in texts)
    # Once the thread is free, a reload reads the file again (and finds its problem).
    path.write_text("listen: 127.0.0.1:9998\n")
    watcher = ConfigWatcher(ConfigSource(str(path)), applied, CollectorRegistry())
    assert await watcher.reload("SIGHUP")
    assert applied.settings[0].listen.port == 9998
    await watcher.aclose()
    await asyncio.sleep(0)


async def test_a_stop_that_comes_as_a_load_finishes_is_not_swallowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM while a reload's load was finishing used to be lost: the task was cancelled after
    the thread had its result but before the loop took it, and ``asyncio.wait_for`` (3.11) returned
    that result instead of the cancellation, so ``aclose`` waited for the watcher forever (found by
    tests/faults/test_start_signals.py). The moment is made here: the loop is held while the thread
    finishes, the cancel comes before the loop sees the result."""
    monkeypatch.setenv("LAVA_SECRET_KEY", TEST_SECRET)
    path = tmp_path / "c.yaml"
    path.write_text("listen: 127.0.0.1:9997\n")
    applied = Applied()
    watcher = ConfigWatcher(ConfigSource(str(path)), applied, CollectorRegistry())
    reload = asyncio.ensure_future(watcher.reload("SIGHUP"))
    await asyncio.sleep(0)  # the load is in the worker thread now
    busy = watcher._busy  # the load's future: the only way to see the thread finish, not the loop
    assert busy is not None
    busy.result(timeout=30)  # blocks the loop until the thread is done: its result waits in the queue
    reload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reload
    assert applied.settings == []  # cancelled means not applied
    await watcher.aclose()
