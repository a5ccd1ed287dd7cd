"""Each customer page, as a customer meets it in Chromium at 1366 px and on a 390 px phone
(issue 15 item 5, the pages' half): the home page's "Needs your action", a change page that
opens with what to do and by when, the same page once acknowledged, a cancelled change, the
changes list, and the acknowledgement page opened from an email without signing in.

Each page must not scroll sideways on the phone, must pass axe (no serious or critical
violation) and must say what the issue asks; FOREWARN_SCREENSHOTS=<folder> saves each page as
``customer-<width>-<page>.png``. Tapai (the demo's Asia/Taipei tenant) reads every time with
its offset, UTC+8, and in UTC.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.acks.links import make_ack_token
from portal.changes.models import Change, ChangeTenant
from portal.extensions import db
from portal.tenants.models import NoticeContact, Tenant
from tests.browser.test_phones_and_accessibility import PHONE, SCREEN, _problems

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(os.environ.get("PORTAL_TEST_DATABASE_URL")),
        reason="layout and accessibility do not depend on the database: checked in the SQLite run",
    ),
]

RATE_LIMIT = "Face Fusion API: lower rate limit on /v2/blend"
DNS = "Managed DNS: rolling restart of the resolver fleet"


def _change_id(app, title: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Change.id).where(Change.title == title))


def _customer_of_cancelled_change(app, make_user) -> str:
    """A customer of a tenant the (cancelled) DNS change affected: its email."""
    with app.app_context():
        change_id = db.session.scalar(select(Change.id).where(Change.title == DNS))
        tenant = db.session.scalars(
            select(Tenant)
            .join(ChangeTenant, ChangeTenant.tenant_id == Tenant.id)
            .where(ChangeTenant.change_id == change_id)
            .order_by(Tenant.slug)
        ).first()
        user = make_user(
            f"ops@{tenant.slug}.example", tenant=tenant, name="Ola Ops", password="forewarn-demo"
        )
        db.session.commit()
        return user.email


def _ack_link(app, change_id: int) -> str:
    with app.app_context():
        tapai = db.session.scalar(select(Tenant).where(Tenant.slug == "tapai"))
        contact = db.session.scalar(
            select(NoticeContact.email).where(NoticeContact.tenant_id == tapai.id)
        )
        return "/ack/" + make_ack_token(change_id, 1, tapai.id, contact)


class Visit:
    """One browser context at one width: checks each page and saves its picture."""

    def __init__(self, browser, site: str, viewport: dict):
        phone = viewport is PHONE
        self.context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
        self.page = self.context.new_page()
        self.site, self.width, self.phone = site, viewport["width"], phone
        self.failures: dict[str, list[str]] = {}

    def sign_in(self, email: str) -> None:
        self.page.goto(f"{self.site}/login")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password", exact=True).fill("forewarn-demo")
        self.page.get_by_role("button", name="Sign in").click()

    def check(self, name: str) -> None:
        problems = _problems(self.page, self.width if self.phone else None)
        if problems:
            self.failures[name] = problems
        shots = os.environ.get("FOREWARN_SCREENSHOTS")
        if shots:
            path = os.path.join(shots, f"customer-{self.width}-{name}.png")
            self.page.screenshot(path=path, full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, SCREEN], ids=["390px", "1366px"])
def test_customer_pages_tell_the_truth_at_both_widths(browser, site, app, make_user, viewport):
    rate_limit = _change_id(app, RATE_LIMIT)
    cancelled_reader = _customer_of_cancelled_change(app, make_user)
    link = _ack_link(app, rate_limit)
    visit = Visit(browser, site, viewport)
    page = visit.page

    # The email link, opened without signing in: Tapai's zone, as the email gave it.
    page.goto(f"{site}{link}")
    expect(page.get_by_role("heading", name="What you need to do")).to_be_visible()
    expect(page.locator(".details")).to_contain_text("UTC+8")
    expect(page.locator(".details")).to_contain_text("UTC)")
    expect(page.locator("footer")).to_contain_text("Times shown in Asia/Taipei")
    visit.check("ack-link")

    visit.sign_in("admin@tapai.example")
    needs = page.locator("#needs-action")
    expect(needs.get_by_role("heading", name="Needs your action")).to_be_visible()
    expect(needs).to_contain_text(RATE_LIMIT)
    expect(needs).to_contain_text(re.compile(r"Act by .* UTC\+8 \(.* UTC\) \(in \d+ (days|h)\)"))
    visit.check("home")

    page.goto(f"{site}/changes")
    expect(page.get_by_role("link", name=RATE_LIMIT)).to_be_visible()
    visit.check("changes")

    page.goto(f"{site}/changes/{rate_limit}")
    headings = page.locator("main h2").all_inner_texts()
    assert headings.index("What you need to do") < headings.index("What changes"), headings
    expect(page.locator(".act-by")).to_contain_text(re.compile(r"UTC\+8 .*UTC\)"))
    expect(page.locator(".status-line")).to_contain_text("acknowledgement requested")
    visit.check("change-to-act-on")

    page.locator("#acknowledgement").get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#acknowledged-by")).to_contain_text("Acknowledged by Lin Mei-hua")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator(".status-line")).not_to_contain_text("acknowledgement requested")
    expect(page.locator("#revisions")).to_contain_text("Announced")
    visit.check("change-acknowledged")

    page.goto(f"{site}/")
    expect(page.locator("#needs-action")).not_to_contain_text(RATE_LIMIT)

    visit.context.clear_cookies()
    visit.sign_in(cancelled_reader)
    page.goto(f"{site}/changes/{_change_id(app, DNS)}")
    banner = page.locator(".banner.cancelled")
    expect(banner).to_contain_text("This change was cancelled")
    expect(banner).to_contain_text("Reason: Postponed")
    expect(page.locator("#revisions")).to_contain_text("Cancelled: Postponed")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("#acknowledgement")).to_have_count(0)
    visit.check("change-cancelled")

    visit.context.close()
    assert not visit.failures, "\n".join(f"{p}: {'; '.join(v)}" for p, v in visit.failures.items())
