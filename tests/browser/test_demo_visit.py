"""A visitor's walk through the demo in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.mailbox.services import store_caught_mail
from tests.conftest import T0

pytestmark = pytest.mark.browser


def test_wrong_password_is_refused_with_a_message(sign_in):
    page = sign_in("engineer@forewarn.example", "not the password")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator(".flash, .error, .errors").first).to_be_visible()


def test_engineer_travels_forward_in_demo_time(sign_in):
    page = sign_in("engineer@forewarn.example")
    expect(page.get_by_role("heading", name="Welcome, Erin Engineer")).to_be_visible()
    bar = page.locator(".demobar")
    expect(bar).to_contain_text("Mon 2 Nov 2026 10:00 UTC+1 (09:00 UTC)")
    bar.get_by_role("button", name="+1d").click()
    expect(page.locator(".flash")).to_contain_text("2026-11-03 09:00")
    expect(page.locator(".demobar")).to_contain_text("Tue 3 Nov 2026")


def test_customer_reads_its_notice_in_the_mailbox(app, sign_in):
    with app.app_context():
        raw = (
            b"Subject: Scheduled: lower rate limit on /v2/blend\r\n"
            b"From: Forewarn <notices@forewarn.example>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain part\r\n"
            b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            b"<p>The <strong>HTML</strong> part</p><script>document.title='owned'</script>"
            b"\r\n--b--\r\n"
        )
        store_caught_mail(
            mail_from="notices@forewarn.example",
            rcpt_tos=["change-notices@tapai.example"],
            raw=raw,
            now=T0,
        )
        store_caught_mail(
            mail_from="notices@forewarn.example",
            rcpt_tos=["change-notices@ptu.example"],
            raw=b"Subject: For Ptu only\r\n\r\nx\r\n",
            now=T0,
        )
        db.session.commit()
    page = sign_in("admin@tapai.example")
    page.get_by_role("link", name="Mailbox").first.click()
    expect(page.get_by_role("heading", name="Demo mailbox")).to_be_visible()
    expect(page.get_by_text("For Ptu only")).to_have_count(0)
    page.get_by_role("link", name="Scheduled: lower rate limit on /v2/blend").click()
    frame = page.frame_locator("iframe.mailframe")
    expect(frame.locator("strong")).to_have_text("HTML")
    expect(page.locator("pre.mailtext")).to_contain_text("Plain part")
    assert "owned" not in page.title()
