"""The demo mailbox: demo mode only, scoped to what the user may read, safe to display.

Scope (see portal/mailbox/services.py): admins read every message; a customer reads mail to
its tenant's notice contacts and users; other staff read mail addressed to themselves.
"""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.mailbox.services import store_caught_mail
from tests.conftest import T0

HTML_MAIL = (
    b"Subject: Scheduled: Face Fusion upgrade\r\n"
    b"From: Forewarn <notices@forewarn.example>\r\n"
    b"To: change-notices@tapai.example\r\n"
    b"Message-ID: <c1.r1.t1@forewarn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"See https://portal.test/changes/1 <script>alert(1)</script>\r\n"
    b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>Hello</p><script>alert(2)</script><img src=x onerror=alert(3)>"
    b'<a href="javascript:alert(4)">x</a>\r\n--b--\r\n'
)


@pytest.fixture
def cast(make_tenant, make_user, make_contact):
    tapai = make_tenant("tapai", contacts=0)
    make_contact(tapai, "change-notices@tapai.example")
    ptu = make_tenant("ptu", first_party=True, contacts=0)
    make_contact(ptu, "ops@ptu.example")
    people = {
        "admin": make_user("admin@forewarn.example", is_admin=True),
        "manager": make_user("manager@forewarn.example", is_account_manager=True),
        "tapai": make_user("lin@tapai.example", tenant=tapai),
        "ptu": make_user("jonas@ptu.example", tenant=ptu),
    }
    mails = {
        "tapai": store_caught_mail(
            mail_from="notices@forewarn.example",
            rcpt_tos=["Change-Notices@tapai.example"],
            raw=HTML_MAIL,
            now=T0,
        ),
        "ptu": store_caught_mail(
            mail_from="notices@forewarn.example",
            rcpt_tos=["ops@ptu.example"],
            raw=b"Subject: Ptu notice\r\n\r\nfor Ptu\r\n",
            now=T0,
        ),
        "manager": store_caught_mail(
            mail_from="notices@forewarn.example",
            rcpt_tos=["manager@forewarn.example"],
            raw=b"Subject: Escalation: Ptu silent\r\n\r\nchase\r\n",
            now=T0,
        ),
    }
    db.session.commit()
    return people, {k: m.id for k, m in mails.items()}


def test_mailbox_is_404_outside_demo_mode(app, cast, login):
    people, mails = cast
    app.config["DEMO"] = False
    client = login(people["admin"])
    assert client.get("/mailbox/").status_code == 404
    assert client.get(f"/mailbox/{mails['tapai']}").status_code == 404
    assert client.get(f"/mailbox/{mails['tapai']}.eml").status_code == 404


def test_mailbox_needs_a_login(client, cast):
    response = client.get("/mailbox/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_reads_every_message(cast, login):
    people, _ = cast
    page = login(people["admin"]).get("/mailbox/").get_data(as_text=True)
    assert "Face Fusion upgrade" in page and "Ptu notice" in page and "Escalation" in page


def test_customer_reads_only_its_tenants_mail(cast, login):
    people, mails = cast
    client = login(people["tapai"])
    page = client.get("/mailbox/").get_data(as_text=True)
    assert "Face Fusion upgrade" in page
    assert "Ptu notice" not in page and "Escalation" not in page
    assert client.get(f"/mailbox/{mails['tapai']}").status_code == 200
    assert client.get(f"/mailbox/{mails['ptu']}").status_code == 404
    assert client.get(f"/mailbox/{mails['ptu']}.eml").status_code == 404
    assert client.get("/mailbox/999999").status_code == 404


def test_staff_read_mail_addressed_to_them(cast, login):
    people, mails = cast
    client = login(people["manager"])
    page = client.get("/mailbox/").get_data(as_text=True)
    assert "Escalation" in page and "Face Fusion upgrade" not in page
    assert client.get(f"/mailbox/{mails['tapai']}").status_code == 404


def test_message_page_escapes_text_and_sanitises_html(cast, login):
    people, mails = cast
    response = login(people["tapai"]).get(f"/mailbox/{mails['tapai']}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "alert(2)" not in page and "onerror" not in page and "javascript:" not in page
    assert 'href="https://portal.test/changes/1"' in page


def test_raw_message_is_served_as_inert_text(cast, login):
    people, mails = cast
    response = login(people["admin"]).get(f"/mailbox/{mails['tapai']}.eml")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The view's sandbox is added to the site-wide policy (portal/security.py).
    csp = [d.strip() for d in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in csp and "script-src 'self'" in csp
    assert response.data == HTML_MAIL


def test_search_filters_and_bad_input_does_not_crash(cast, login):
    people, _ = cast
    client = login(people["admin"])
    page = client.get("/mailbox/?q=escalation").get_data(as_text=True)
    assert "Escalation" in page and "Face Fusion upgrade" not in page
    assert client.get("/mailbox/?q=" + "x" * 500).status_code == 200
    assert client.get("/mailbox/?q=%25_%5C").status_code == 200
    assert client.get("/mailbox/?page=abc").status_code == 200
    assert client.get("/mailbox/?page=999").status_code == 200


def test_engineers_also_read_the_notices_of_their_teams_changes(cast, login, make_team, make_user):
    """Whoever publishes sees the notices go out (issue #16 item 7), and no other team's."""
    from tests.factories import make_change

    people, _ = cast
    vision, data = make_team("vision", "Vision"), make_team("data", "Data")
    erin = make_user("erin@forewarn.example", teams=[vision])
    ours, theirs = (
        make_change(services=[], team=team, author=erin, starts_at=T0) for team in (vision, data)
    )
    for change, subject in ((ours, "Scheduled: ours"), (theirs, "Scheduled: theirs")):
        store_caught_mail(
            mail_from="notices@forewarn.example",
            rcpt_tos=["change-notices@tapai.example"],
            raw=(
                f"Subject: {subject}\r\nMessage-ID: <change-{change.id}.rev-1.tenant-1.ab@forewarn>"
                "\r\n\r\nbody\r\n"
            ).encode(),
            now=T0,
        )
    db.session.commit()
    page = login(erin).get("/mailbox/").get_data(as_text=True)
    assert "Scheduled: ours" in page
    assert "Scheduled: theirs" not in page and "Face Fusion upgrade" not in page
    assert "every notice sent about your teams' changes" in page
