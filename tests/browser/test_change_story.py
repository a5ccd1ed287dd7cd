"""DESIGN.md's story in a real browser: an engineer schedules a change too early, is refused
(naming Tapai and its 72 h contract), reschedules, publishes; Tapai's admin then sees it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TITLE = "Face Fusion API: new default output format"


def test_engineer_publishes_after_a_refusal_and_the_customer_sees_it(site, sign_in, page):
    sign_in("engineer@forewarn.example")
    page.goto(f"{site}/changes/new")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description (Markdown)").fill("Output switches from PNG to **WebP**.")
    page.get_by_label("Services and components").select_option(
        label="Face Fusion API (whole service)"
    )
    page.get_by_label("Impact").select_option(value="degradation")
    page.get_by_label("Ask affected customers to acknowledge").check()
    # T0 is Mon 2 Nov 2026 09:00 UTC; the engineer works in Europe/Berlin (UTC+1).
    page.get_by_label("Start").fill("2026-11-03 16:00")  # 30 h away: too soon for Tapai
    page.get_by_label("End").fill("2026-11-03 18:00")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()

    page.get_by_text("Publish…").click()
    expect(page.locator(".confirm-box")).to_contain_text("Publishing tells")
    page.get_by_role("button", name="Publish", exact=True).click()
    refusal = page.get_by_role("alert")
    expect(page.get_by_role("heading", name="Publishing refused")).to_be_visible()
    expect(refusal).to_contain_text("Tapai")
    expect(refusal).to_contain_text("72")

    page.get_by_role("link", name="Reschedule to the earliest allowed start").click()
    # p + 72 h + 1 h margin = Thu 5 Nov 10:00 UTC, 11:00 in Berlin; the duration is kept.
    expect(page.get_by_label("Start")).to_have_value("2026-11-05 11:00")
    expect(page.get_by_label("End")).to_have_value("2026-11-05 13:00")
    expect(page.locator("#notice-preview")).to_contain_text("publishable")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_text("Publish…").click()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.locator("body")).to_contain_text(re.compile("scheduled", re.I))

    page.context.clear_cookies()
    sign_in("admin@tapai.example")
    page.goto(f"{site}/changes")
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
