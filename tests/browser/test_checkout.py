"""The whole Lava flow in Chromium, against the local Lava, through the merchant example's page
and Lava's own checkout package (``@lavapayments/checkout`` 0.1.3, unmodified, bundled by
esbuild): Subscribe → the package's sandboxed iframe shows the plan → fill and pay → ``onSuccess``
with the session id and the customer id → the backend confirms it over REST → a prompt for that
customer goes through the sidecar → Lava's usage and the dashboard show it. Cancel, an unknown
secret, a double submit, a top-up, and a forged success message too."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect

from examples.merchant.launch import Running
from examples.merchant.screenshots import take
from proxy.billing import LavaClient

pytestmark = [pytest.mark.external, pytest.mark.slow]
IFRAME = "iframe[src*='/embed/checkout/']"


def _open_checkout(page: Page, merchant: Running) -> FrameLocator:
    page.goto(merchant.url + "/")
    page.click("#subscribe")
    expect(page.locator(IFRAME)).to_have_count(1)
    frame = page.frame_locator(IFRAME)
    expect(frame.locator("#plan-name")).to_have_text("Pro")
    return frame


def _pay(page: Page, frame: FrameLocator, phone: str, first_name: str = "Ada") -> str:
    """Fill the form, pay, and wait for the backend's REST confirmation; the customer id."""
    frame.locator("input[name=phone]").fill(phone)
    frame.locator("input[name=first_name]").fill(first_name)
    frame.locator("button[type=submit]").click()
    expect(page.locator("#event")).to_have_attribute("data-kind", "success")
    customer = page.locator("#event").get_attribute("data-customer")
    assert customer is not None
    assert customer.startswith("con_")
    expect(page.locator("#customer")).to_have_text(customer)
    expect(page.locator("#status")).to_contain_text("Confirmed by Lava")
    expect(page.locator(IFRAME)).to_have_count(0)  # the package took its frame down
    return customer


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def test_subscribe_pay_prompt_and_see_it_billed(page: Page, merchant: Running,
                                                lava: LavaClient) -> None:
    frame = _open_checkout(page, merchant)
    expect(frame.locator("#price")).to_have_text("$20.00")
    expect(frame.locator("#interval")).to_contain_text("per month")
    expect(frame.locator("#included-credit")).to_contain_text("$20.00 of usage credit")
    expect(frame.locator("button", has_text="Cancel")).to_be_visible()
    assert page.locator(IFRAME).get_attribute("sandbox") == "allow-forms allow-scripts allow-same-origin"
    customer = _pay(page, frame, "+1 555 555 0101")
    session_id = page.locator("#event").get_attribute("data-session")
    assert session_id is not None
    # What the page was told is what Lava's REST API says.
    done = lava.checkout_sessions.get(session_id)
    assert done.completed_at is not None
    assert done.customer_id == customer
    sub = lava.customers.subscription(customer)
    assert sub is not None
    assert sub.plan_name == "Pro"
    # A prompt for that customer, through the sidecar.
    page.fill("#prompt", "Write a haiku about metering.")
    page.click("#send")
    expect(page.locator("#reply")).to_contain_text("Hello from the local Lava")
    tokens = int(page.locator("#usage").get_attribute("data-tokens") or "0")
    assert tokens > 0
    expect(page.locator("#usage")).to_have_attribute("data-lava-requests", "1")
    usage = lava.usage.get(start=_today(), customer_id=customer).totals
    assert usage.total_requests == 1
    assert usage.total_usage_tokens == tokens
    assert usage.total_charge > 0
    (record,) = list(lava.requests.iter(customer_id=customer))
    assert record.model_usage.total_tokens == tokens
    # The dashboard lists the customer and the request.
    page.goto(merchant.lava_url + "/dashboard/customers")
    row = page.locator(f"tr[data-customer='{customer}']")
    expect(row).to_contain_text("Ada")
    expect(row).to_contain_text("Pro")
    expect(row).to_contain_text("active")
    page.goto(merchant.lava_url + f"/dashboard/customers/{customer}")
    expect(page.locator(f"tr[data-request='{record.request_id}']")).to_contain_text("chat-tokens")
    expect(page.locator("#usage-chart title")).to_have_count(1)
    page.goto(merchant.lava_url + "/dashboard/requests")
    expect(page.locator(f"tr[data-request='{record.request_id}']")).to_contain_text("gpt-4o-mini")


def test_cancel_completes_nothing(page: Page, merchant: Running, lava: LavaClient) -> None:
    frame = _open_checkout(page, merchant)
    frame.locator("input[name=phone]").fill("+15555550102")
    frame.locator("button", has_text="Cancel").click()
    expect(page.locator("#event")).to_have_attribute("data-kind", "cancel")
    expect(page.locator("#status")).to_contain_text("cancelled")
    expect(page.locator(IFRAME)).to_have_count(0)
    session_id = page.locator("#event").get_attribute("data-session")
    assert session_id is not None
    assert session_id.startswith("cs_test_")
    cs = lava.checkout_sessions.get(session_id)
    assert cs.completed_at is None
    assert cs.customer_id is None
    assert page.locator("#customer").count() == 0


def test_an_unknown_secret_is_a_404_page(page: Page, merchant: Running) -> None:
    response = page.goto(merchant.lava_url + "/embed/checkout/css_test_" + "0" * 32)
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Checkout not found")
    expect(page.locator("#close")).to_be_visible()


def test_a_double_submit_makes_one_customer_and_one_subscription(
        page: Page, merchant: Running, lava: LavaClient) -> None:
    """The same checkout paid twice at once: in the package's frame and in a second tab."""
    frame = _open_checkout(page, merchant)
    src = page.locator(IFRAME).get_attribute("src")
    assert src is not None
    phone = "+15555550103"
    tab = page.context.new_page()
    tab.goto(src)
    tab.locator("input[name=phone]").fill(phone)
    frame.locator("input[name=phone]").fill(phone)
    tab.locator("button[type=submit]").click(no_wait_after=True)
    customer = _pay(page, frame, phone)
    expect(tab.locator("h1")).to_have_text("Payment complete")
    mine = [c for c in lava.customers.iter() if c.contact.phone == phone]
    assert [c.customer_id for c in mine] == [customer]
    subs = list(lava.subscriptions.iter(status="all", customer_id=customer))
    assert len(subs) == 1


def test_a_top_up_adds_credit(page: Page, merchant: Running, lava: LavaClient) -> None:
    customer = _pay(page, _open_checkout(page, merchant), "+15555550104")
    expect(page.locator("#credits")).to_have_text("$20.00")
    page.click("#topup")
    frame = page.frame_locator(IFRAME)
    expect(frame.locator("#bundle-name")).to_have_text("Top-up $10")
    expect(frame.locator("input[name=phone]")).to_have_count(0)  # a returning customer
    frame.locator("button[type=submit]").click()
    expect(page.locator("#event")).to_have_attribute("data-kind", "success")
    expect(page.locator("#credits")).to_have_text("$30.00")
    sub = lava.customers.subscription(customer)
    assert sub is not None
    assert sub.credits.bundle_remaining == Decimal(10)
    assert sub.credits.total_remaining == Decimal(30)


def test_a_forged_success_message_is_not_believed(page: Page, merchant: Running,
                                                  lava: LavaClient) -> None:
    """The package accepts a message from anyone; the backend asks Lava."""
    _open_checkout(page, merchant)
    forged = page.evaluate("""() => {
        window.postMessage({type: "lava_checkout_success", checkoutSessionId: "cs_test_forged",
                            connectionId: "con_forged"}, "*");
        return true;
    }""")
    assert forged
    expect(page.locator("#status")).to_contain_text("Not confirmed: not a checkout this page started")
    expect(page.locator("#customer")).to_have_count(0)
    # The real session, claimed before it was paid: Lava says it is not complete.
    page.click("#subscribe")
    expect(page.locator(IFRAME)).to_have_count(1)
    src = page.locator(IFRAME).get_attribute("src") or ""
    secret = re.search(r"/embed/checkout/(css_test_[0-9a-f]+)", src)
    assert secret is not None
    session_id = page.frame_locator(IFRAME).locator("#lava-checkout").evaluate(
        "(el) => JSON.parse(el.textContent).checkoutSessionId")
    page.evaluate("""(id) => window.postMessage({type: "lava_checkout_success",
        checkoutSessionId: id, connectionId: "con_forged"}, "*")""", session_id)
    expect(page.locator("#status")).to_contain_text("Lava has not completed this checkout")
    expect(page.locator("#customer")).to_have_count(0)
    assert lava.checkout_sessions.get(session_id).completed_at is None


def test_the_readme_screenshots_are_taken_from_a_real_run(browser: Browser, merchant: Running,
                                                          tmp_path: Path) -> None:
    """``python -m examples.merchant.screenshots`` (docs/*.png) drives the same flow."""
    for path in take(browser, merchant, tmp_path):
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", head[16:24])
        assert width >= 900
        assert height >= 600
