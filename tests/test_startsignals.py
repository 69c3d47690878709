"""``StartSignals`` with real signals sent to this process, and ``lifecycle.serve`` taking over what
it noted: a SIGHUP while starting is counted and logged once, never fatal; a stop signal noted
before the loop makes ``serve`` return 0 before anything is opened; one that comes while the parts
open closes them in order without announcing ready. (``tests/faults/test_start_signals.py`` sends
them to a real ``lava-sidecar serve`` at points of its start.)"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from proxy.commands.startsignals import STOP_SIGNALS, StartSignals
from proxy.config import Listen, Settings
from proxy.emulator.server import running_gateway
from proxy.lifecycle import STOP_SIGNALS as LOOP_STOP_SIGNALS
from proxy.lifecycle import serve

from .conftest import TEST_SECRET
from .stack import stack_settings

HANDLED = (*STOP_SIGNALS, signal.SIGHUP)


@contextmanager
def restored() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def deliver(sig: signal.Signals) -> None:
    """Send ``sig`` to this process; its Python handler has run when this returns."""
    os.kill(os.getpid(), sig)
    signal.sigtimedwait([], 0)  # a no-op system call: pending handlers run on the way out


def test_the_command_notes_the_same_stop_signals_the_loop_handles() -> None:
    assert set(STOP_SIGNALS) == set(LOOP_STOP_SIGNALS)


def test_sighups_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lava_sidecar")
    with restored():
        noted = StartSignals.install()
        deliver(signal.SIGHUP)
        deliver(signal.SIGHUP)
        assert (noted.hangups, noted.stop) == (2, None)
        noted.report(logging.getLogger("lava_sidecar.server"))
        noted.report(logging.getLogger("lava_sidecar.server"))
    said = [r.getMessage() for r in caplog.records]
    assert said == ["SIGHUP received while starting (2 time(s)): ignored, the configuration is being "
                    "loaded now; send it again to reload once the sidecar is ready"]


@pytest.mark.parametrize("sig", STOP_SIGNALS)
def test_the_first_stop_signal_is_noted(sig: signal.Signals) -> None:
    with restored():
        noted = StartSignals.install()
        deliver(sig)
        deliver(signal.SIGTERM)
    assert noted.stop == sig.name


def settings(gw_url: str, tmp: Path) -> Settings:
    return stack_settings(gw_url, tmp, listen=Listen("127.0.0.1", 0), admin_listen=Listen("127.0.0.1", 0))


async def test_a_stop_noted_before_the_loop_returns_0_before_anything_opens(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lava_sidecar")
    with restored():
        noted = StartSignals.install()
        deliver(signal.SIGHUP)
        deliver(signal.SIGTERM)
        async with running_gateway(TEST_SECRET) as gw:
            assert await serve(settings(gw.url, tmp_path), early=noted) == 0
    said = [r.getMessage() for r in caplog.records]
    assert "stop signal received while starting: stopped before serving" in said
    assert any(m.startswith("SIGHUP received while starting (1 time(s))") for m in said)
    assert not (tmp_path / "usage.jsonl").exists()  # nothing was opened


async def test_a_stop_while_the_parts_open_closes_them_without_announcing_ready(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lava_sidecar")
    with restored():
        async with running_gateway(TEST_SECRET) as gw:
            stop = asyncio.Event()
            # Runs at the start's first wait: after serve's check, while App.open is under way.
            asyncio.get_running_loop().call_soon(stop.set)
            assert await serve(settings(gw.url, tmp_path), stop=stop) == 0
    said = [r.getMessage() for r in caplog.records]
    assert "stop signal received while starting: closing before serving" in said
    assert "lava-sidecar ready" not in said
    assert "stopped" in said  # the ordinary close: usage log flushed, listeners closed
