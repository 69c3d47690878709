"""Real-browser fixtures: Debian's ``chromium`` driven by Playwright (``executable_path``; never
Playwright's own browser download), one browser per test module, a fresh context (cookies,
storage) per test; the merchant example (``python -m examples.merchant``: the local Lava, the
sidecar and the example's backend in one child process) started once per module.

Skipped, with the reason, only when chromium is absent (``.ci/run`` installs it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from examples.merchant.launch import Running, running_example
from proxy.billing import LavaClient

KEY = "aks_test_browser0123456789abcdef"
#: Generous: the machine is shared, and a first build of the page runs npm.
WAIT_MS = 20_000


def chromium() -> str:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.skip("chromium is not installed: the browser tests drive Debian's chromium "
                    "(.ci/run: apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def merchant() -> Iterator[Running]:
    chromium()  # no browser, no point starting the stack
    with running_example(KEY) as running:
        yield running


@pytest.fixture(scope="module")
def lava(merchant: Running) -> Iterator[LavaClient]:
    with LavaClient(base_url=merchant.lava_url, secret_key=KEY) as client:
        yield client
