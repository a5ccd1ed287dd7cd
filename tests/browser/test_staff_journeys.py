"""The staff workflows that end in an action, clicked through in a real browser at 1366 and
390 px (issue #16 items 1, 3 and 8; the Flask-client tests are tests/changes/test_approvals.py,
tests/changes/test_page_actions.py and tests/desk/test_chase.py).

- An approver finds the requests waiting on the home page and in the menu, reads the notice
  check beside the decision, confirms and approves one, rejects one with a reason, and meets
  one whose start has passed: Approve disabled, the requester must reschedule.
- An engineer publishes after reading what publishing sends, sees Start disabled while no
  gate is open, and starts an overdue change, landing back on its page with a sentence.
- An account manager lists the upcoming changes soonest first, filters through a summary
  card, sees the tenants' notice contacts, copies their addresses, sends a reminder now (and
  meets the once-an-hour limit on a second click), and opens the SMTP server's answer.

One app server (the demo provider, its mail delivered to a real SMTP server on 127.0.0.1)
serves the whole module, because seeding costs seconds; each test seeds the changes it acts
on under titles of its own width, so the two widths never see each other's decisions. At every
step the page may not scroll sideways at 390 px and axe-core may report no serious or critical
violation. FOREWARN_SCREENSHOTS=<folder> saves the steps in SHOWN.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from portal import create_app
from portal.auth.models import User
from portal.catalog.models import Service
from portal.changes import emergency, services
from portal.changes.models import Change
from portal.clock import FrozenClock
from portal.demo.seed import seed_demo
from portal.extensions import db, dispose_engines
from portal.notify.dispatch import dispatch_due
from tests import factories
from tests.browser.conftest import PASSWORD
from tests.browser.test_phones_and_accessibility import PHONE, SCREEN, _problems
from tests.conftest import T0, empty_tables
from tests.notify.conftest import SmtpServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        bool(os.environ.get("PORTAL_TEST_DATABASE_URL")),
        reason="layout and accessibility do not depend on the database: checked in the SQLite run",
    ),
]

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
ENGINEER = "engineer@forewarn.example"
APPROVER = "approver@forewarn.example"
MANAGER = "manager@forewarn.example"
JUSTIFICATION = "A security fix that cannot wait for the notice window."

# The changes each run acts on, one set per width so the runs never meet each other's rows.
TITLES = {
    390: {
        "approve": "Face Fusion API: block uploads that crash the decoder",
        "reject": "Face Fusion API: switch the Taipei region to new GPUs",
        "late": "Face Fusion API: rotate the signing key of result URLs",
        "publish": "Face Fusion API: WebP output by default",
        "start": "Face Fusion API: restart the EU workers",
        "chase": "Face Fusion API: retire the v1 blend endpoint",
    },
    1366: {
        "approve": "Face Fusion API: fix the colour shift in blended faces",
        "reject": "Face Fusion API: move US East to a new load balancer",
        "late": "Face Fusion API: revoke a leaked partner key",
        "publish": "Face Fusion API: larger default image size",
        "start": "Face Fusion API: restart the US workers",
        "chase": "Face Fusion API: require TLS 1.3 for callbacks",
    },
}

# Steps worth a picture (docs/screenshots/journey-<role>-<width>-<step>.png).
SHOWN = {"approval", "publish-confirm", "matrix-reminded"}


@pytest.fixture(scope="module")
def served(migrated_url, tmp_path_factory):
    """The demo provider at T0 on a free port, the mail it queued delivered to a real SMTP
    server; ``clock`` is the server's frozen clock. Emptied after the module."""
    smtp = SmtpServer()
    smtp.start()
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": migrated_url,
        "DEMO": True,
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
        "BASE_URL": "http://portal.test",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT_SECONDS": 10,  # generous: a loaded CI machine is slow to answer
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PORTAL_INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
        env.delenv("FLASK_RUN_FROM_CLI", raising=False)
        # Sign-in still checks the password; the slow hash of 16 demo people is not our subject.
        env.setattr(
            "portal.auth.models.generate_password_hash",
            lambda password: generate_password_hash(password, "pbkdf2:sha256:1"),
        )
        app = create_app(config)
        clock = FrozenClock(T0)
        app.extensions["forewarn.clock"] = clock
        with app.app_context():
            seed_demo(password=PASSWORD, now=T0)
            db.session.commit()
            dispatch_due(now=clock.now)  # the worker has sent what the story queued
            db.session.remove()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield SimpleNamespace(
                url=f"http://127.0.0.1:{server.server_port}", app=app, clock=clock, smtp=smtp
            )
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
            with app.app_context():
                db.session.remove()
                empty_tables()
                dispose_engines()
            smtp.stop()


@pytest.fixture(params=[PHONE, SCREEN], ids=["390px", "1366px"])
def viewport(request):
    return request.param


@pytest.fixture
def page(browser, viewport):
    """A fresh browser page at ``viewport`` (a phone at 390 px) that may use the clipboard."""
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, site: str, email: str) -> None:
    page.goto(f"{site}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Welcome"))).to_be_visible()


def check(page, step: str, role: str) -> None:
    """The page fits a 390 px screen (no sideways scrolling) and axe finds nothing serious."""
    page.wait_for_load_state()  # forewarn.js has run (it makes scrolling tables focusable)
    width = page.viewport_size["width"]
    if width == PHONE["width"]:
        # A mobile browser zooms out to fit wide content, widening innerWidth with it: compare
        # with the screen's width too, or a 900 px page would "fit" a 900 px innerWidth.
        scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        assert scroll <= min(inner, width), f"{step}: the page is {scroll} px wide at {width} px"
    problems = _problems(page, None)
    assert not problems, f"{step}: {'; '.join(problems)}"
    shots = os.environ.get("FOREWARN_SCREENSHOTS")
    if shots and step in SHOWN:
        page.screenshot(path=os.path.join(shots, f"journey-{role}-{width}-{step}.png"))


def open_menu(page) -> None:
    """On a phone the main menu hides behind its "Menu" button (below 760 px)."""
    page.wait_for_load_state()
    if page.viewport_size["width"] < 760:
        page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("navigation", name="main")).to_be_visible()


def user(email: str) -> User:
    return db.session.execute(select(User).where(User.email == email)).scalar_one()


def fusion() -> Service:
    return db.session.execute(select(Service).where(Service.slug == "face-fusion-api")).scalar_one()


def draft(title: str, starts_at: dt.datetime, **kw) -> Change:
    """A Face Fusion draft by Erin Engineer (Tapai is owed 72 h by contract)."""
    return factories.make_change(
        services=[fusion()], author=user(ENGINEER), title=title, starts_at=starts_at, **kw
    )


def ask_approval(title: str, starts_at: dt.datetime, asked_at: dt.datetime) -> None:
    """Erin asks for emergency approval of a Face Fusion change, as the services do."""
    change = draft(title, starts_at)
    emergency.request_emergency(change, JUSTIFICATION, actor=user(ENGINEER), now=asked_at)


def published(title: str, starts_at: dt.datetime, at: dt.datetime, **kw) -> None:
    """A Face Fusion change published at ``at`` whose notices the worker delivered then."""
    change = draft(title, starts_at, **kw)
    services.publish(change, actor=user(ENGINEER), now=at)
    db.session.commit()
    dispatch_due(now=lambda: at)


def test_approver_approves_rejects_and_cannot_approve_after_the_start(served, page, viewport):
    titles = TITLES[viewport["width"]]
    approve, reject, late = titles["approve"], titles["reject"], titles["late"]
    with served.app.app_context():
        ask_approval(approve, T0 + 30 * H, T0)
        ask_approval(reject, T0 + 40 * H, T0)
        ask_approval(late, T0 - H, T0 - 3 * H)  # its start passed an hour ago
        db.session.commit()
        db.session.remove()

    sign_in(page, served.url, APPROVER)
    waiting = page.locator("#approvals")
    expect(waiting.get_by_role("heading", name="Waiting for your approval")).to_be_visible()
    for title in (approve, reject, late):
        expect(waiting.get_by_role("link", name=title)).to_be_visible()
    expect(waiting.get_by_role("row", name=re.compile(re.escape(late)))).to_contain_text(
        "start passed"
    )
    open_menu(page)
    count = page.locator("a.nav-count")
    expect(count).to_be_visible()
    expect(count.locator(".badge")).to_have_text(str(waiting.locator("tbody tr").count()))
    check(page, "home", "approver")

    waiting.get_by_role("link", name=approve).click()
    decision = page.locator("#emergency")
    expect(decision).to_contain_text(JUSTIFICATION)
    notice = decision.get_by_label("notice check")
    expect(notice).to_contain_text("in 30 h")  # the countdown to the start
    expect(notice).to_contain_text(re.compile(r"Affects \d+ tenants, including first-party: Ptu"))
    tapai = notice.get_by_role("row", name=re.compile("^Tapai"))
    expect(tapai).to_contain_text("72 h")  # owed
    expect(tapai).to_contain_text("contract (MSA 2025-118")  # by which rule
    expect(tapai).to_contain_text("42 h")  # short by
    expect(decision.get_by_label("Reason for rejecting")).to_be_visible()
    check(page, "approval", "approver")

    hint = decision.get_by_text("Approving publishes it now as short notice").inner_text()
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    decision.get_by_role("button", name="Approve as short notice").click()  # dismissed
    expect(page.locator(".status-line")).to_contain_text("pending approval")
    decision.get_by_role("button", name="Approve as short notice").click()  # accepted
    expect(page.locator(".flash")).to_contain_text("Emergency approved")
    expect(page.locator(".status-line")).to_contain_text("scheduled")
    # The dialog says what the hint beside the button says: tenants told, emails, breaches.
    told = re.search(r"\d+ tenants told \(\d+ emails\)", hint).group(0)
    assert asked == [asked[0]] * 2 and told in asked[0] and "breach" in asked[0], asked
    check(page, "approved", "approver")

    page.get_by_role("link", name="Forewarn", exact=True).click()
    page.locator("#approvals").get_by_role("link", name=reject).click()
    decision.get_by_label("Reason for rejecting").fill("Wait for Thursday's window instead.")
    decision.get_by_role("button", name="Reject").click()
    expect(page.locator(".flash")).to_contain_text("Emergency rejected; the change is a draft")
    expect(decision).to_contain_text("“Wait for Thursday's window instead.”")
    expect(page.locator(".status-line")).to_contain_text("draft")
    check(page, "rejected", "approver")

    page.get_by_role("link", name="Forewarn", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Welcome"))).to_be_visible()
    expect(page.locator("#approvals").get_by_role("link", name=reject)).to_have_count(0)
    expect(page.locator("#approvals").get_by_role("link", name=approve)).to_have_count(0)
    page.locator("#approvals").get_by_role("link", name=late).click()
    expect(decision).to_contain_text("expired: the start has passed")
    expect(decision.get_by_role("button", name="Approve as short notice")).to_be_disabled()
    expect(decision).to_contain_text("The requester must reschedule")
    check(page, "expired", "approver")
    assert len(asked) == 2  # a disabled button asks nothing


def test_engineer_publishes_with_a_summary_and_starts_once_a_gate_opens(served, page, viewport):
    fresh, overdue = TITLES[viewport["width"]]["publish"], TITLES[viewport["width"]]["start"]
    with served.app.app_context():
        draft(fresh, T0 + 8 * D)
        published(overdue, T0 - H, T0 - 9 * D, impact="maintenance")
        ids = {c.title: c.id for c in db.session.scalars(select(Change))}
        db.session.remove()

    sign_in(page, served.url, ENGINEER)
    page.goto(f"{served.url}/changes/{ids[fresh]}")
    page.get_by_text("Publish…").click()
    confirm = page.locator(".confirm-box")
    expect(confirm).to_contain_text(re.compile(r"Publishing tells \d+ tenants at once: \d+ emails"))
    check(page, "publish-confirm", "engineer")
    confirm.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Published (revision 1)")
    start = page.get_by_role("button", name="Start for all tenants")
    expect(start).to_be_disabled()
    expect(page.locator("#start-why")).to_contain_text("No tenant's gate is open")
    check(page, "published", "engineer")

    with served.app.app_context():  # the worker delivers the notices
        dispatch_due(now=served.clock.now)
        db.session.remove()
    page.reload()
    expect(start).to_be_disabled()
    expect(page.locator("#start-why")).to_contain_text(
        "No tenant's gate is open yet; the first opens in 8 days."
    )

    page.goto(f"{served.url}/changes/{ids[overdue]}")
    expect(page.locator(".status-line")).to_contain_text("overdue")
    page.get_by_role("button", name="Start for all tenants").click()
    expect(page.locator(".flash")).to_contain_text(re.compile(r"Started for \d+ tenants\."))
    expect(page).to_have_url(f"{served.url}/changes/{ids[overdue]}")
    expect(page.locator(".status-line")).to_contain_text("in progress")
    check(page, "started", "engineer")


def test_account_manager_chases_silent_tenants_from_the_desk(served, page, viewport):
    title = TITLES[viewport["width"]]["chase"]
    with served.app.app_context():
        published(title, T0 + 6 * D, T0 - D, ack_required=True)
        starts = {c.title: c.starts_at for c in db.session.scalars(select(Change))}
        db.session.remove()

    sign_in(page, served.url, MANAGER)
    open_menu(page)
    page.get_by_role("navigation", name="main").get_by_role("link", name="Desk").click()
    expect(page.get_by_role("heading", name="Desk", exact=True)).to_be_visible()
    listed = page.locator("main table tbody tr td:first-child a").all_inner_texts()
    assert title in listed
    assert [starts[t] for t in listed] == sorted(starts[t] for t in listed), listed
    check(page, "desk", "account-manager")

    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.get_by_role("list", name="summary").get_by_role("link", name="acknowledged").click()
    expect(page).to_have_url(re.compile(r"filter=not_acknowledged"))
    expect(page.get_by_label("Show")).to_have_value("not_acknowledged")
    tapai = page.get_by_role("row", name=re.compile("^Tapai"))
    expect(tapai.locator('a[href="mailto:change-notices@tapai.example"]')).to_be_visible()
    check(page, "matrix", "account-manager")

    page.get_by_text(re.compile(r"^Copy addresses \(\d+\)$")).click()
    addresses = page.get_by_label("notice contact addresses of these tenants")
    expect(addresses).to_contain_text("change-notices@tapai.example")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == addresses.input_value().strip()
    check(page, "addresses", "account-manager")

    page.get_by_role("button", name="Send reminder now to this filter").click()
    expect(page.locator(".flash")).to_contain_text(
        re.compile(r"Reminder queued for [1-9]\d* tenants? \(\d+ emails?\)")
    )
    expect(page.get_by_label("Show")).to_have_value("not_acknowledged")  # the filter is kept
    check(page, "matrix-reminded", "account-manager")
    page.get_by_role("button", name="Send reminder now to this filter").click()
    expect(page.locator(".flash")).to_contain_text(
        re.compile(r"Reminder queued for 0 tenants .*\d+ reminded within the last hour")
    )

    answer = tapai.locator("details.smtp")
    expect(answer.locator("span.muted")).to_be_hidden()
    answer.get_by_text("server's answer").click()
    expect(answer.locator("span.muted")).to_contain_text(re.compile(r"^250 .*Ok: queued as SINK"))
    check(page, "smtp-answer", "account-manager")
