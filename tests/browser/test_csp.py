"""The Content-Security-Policy (issue 17 item 5) in a real browser: no page trips it, and the
behaviour that used inline handlers (confirm before a destructive button) still works."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_pages_run_without_csp_violations_and_confirmations_still_ask(site, sign_in, page):
    violations = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    sign_in("engineer@forewarn.example")
    for path in ("/", "/changes", "/changes/new", "/profile", "/tokens"):
        page.goto(f"{site}{path}")
    page.get_by_label("Name").fill("pipeline")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_be_visible()

    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Revoke").first.click()  # dismissed: nothing happens
    expect(page.get_by_role("button", name="Revoke")).to_have_count(1)
    page.get_by_role("button", name="Revoke").first.click()  # accepted: revoked
    expect(page.locator("body")).to_contain_text("Token revoked")
    assert asked == ["Revoke this token?", "Revoke this token?"]
    assert violations == []
