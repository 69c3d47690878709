"""``python -m examples.merchant.screenshots [--out docs]``: the README's screenshots, taken from
a real run: the merchant example (its own local Lava and sidecar) driven in Debian's Chromium by
Playwright, two customers subscribing through Lava's checkout and prompting through the sidecar,
then the local Lava's dashboard. Writes ``checkout-page.png``, ``merchant-example.png`` and
``dashboard.png``. The browser tests call ``take`` too, so this script stays working."""

from __future__ import annotations

import argparse
import secrets
import shutil
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from .launch import REPO, Running, running_example

IFRAME = "iframe[src*='/embed/checkout/']"
NAMES = ("checkout-page.png", "merchant-example.png", "dashboard.png")
PEOPLE = (("Ada", "Lovelace", "+1 555 555 0199", ("Draft a welcome email.", "Summarise it.")),
          ("Grace", "Hopper", "+1 555 555 0142", ("Name three bugs.",)))


def _customer(page: Page, running: Running, first: str, last: str, phone: str,
              prompts: tuple[str, ...], shot: Path | None) -> None:
    page.goto(running.url + "/")
    page.click("#subscribe")
    frame = page.frame_locator(IFRAME)
    expect(frame.locator("#plan-name")).to_have_text("Pro")
    frame.locator("input[name=phone]").fill(phone)
    frame.locator("input[name=email]").fill(f"{first.lower()}@example.com")
    frame.locator("input[name=first_name]").fill(first)
    frame.locator("input[name=last_name]").fill(last)
    if shot is not None:
        page.screenshot(path=shot)  # before paying: the package removes its frame after
    frame.locator("button[type=submit]").click()
    expect(page.locator("#status")).to_contain_text("Confirmed by Lava")
    for text in prompts:
        before = page.locator("#usage").get_attribute("data-lava-requests") if (
            page.locator("#usage").count()) else "0"
        page.fill("#prompt", text)
        page.click("#send")
        expect(page.locator("#usage")).not_to_have_attribute("data-lava-requests", before or "0")


def take(browser: Browser, running: Running, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in NAMES]
    for i, (first, last, phone, prompts) in enumerate(PEOPLE):
        context = browser.new_context(viewport={"width": 1000, "height": 720})
        context.set_default_timeout(20_000)
        try:
            page = context.new_page()
            _customer(page, running, first, last, phone, prompts, paths[0] if i == 0 else None)
            if i == 0:
                page.screenshot(path=paths[1], full_page=True)
        finally:
            context.close()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(running.lava_url + "/dashboard")
        expect(page.locator("#usage-chart")).to_be_visible()
        page.screenshot(path=paths[2], full_page=True)
    finally:
        context.close()
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.merchant.screenshots")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="where the PNGs go")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    key = "aks_test_" + secrets.token_hex(16)
    with running_example(key) as running, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            for path in take(browser, running, args.out):
                print(path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
