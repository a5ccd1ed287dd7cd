"""Customer pages that tell the truth (issue 15 items 1, 3 and 4): what customers need to do
comes first; after an acknowledgement the page says who and when and asks nothing more; no
badge on ended changes, no card where nothing is asked; a cancelled banner with the reason; a
history in plain words; the home page opens with what needs the customer's action; the email
link page shows the tenant's zone."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

from flask import g

from portal.acks.links import make_ack_token
from portal.acks.models import CHANNEL_EMAIL, CHANNEL_PORTAL
from portal.acks.services import acknowledge
from portal.changes import lifecycle, services
from portal.extensions import db
from tests.changes.helpers import deliver, draft_input
from tests.conftest import T0

HOUR = dt.timedelta(hours=1)
ACTION = "Switch your clients to `/v2/blend` and re-run your calibration."


def _page(login, user, change) -> str:
    g.pop("_login_user", None)  # one ``g`` per test: forget the previous user
    response = login(user).get(f"/changes/{change.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _published(story, *, ack=False, action="", act_by=None, start=T0 + 96 * HOUR):
    inp = replace(
        draft_input(story, start), ack_required=ack, customer_action=action, act_by=act_by
    )
    change = services.create_change(inp, author=story.ana, now=T0)
    services.publish(change, actor=story.ana, now=T0)
    db.session.commit()
    return change


def test_what_customers_need_to_do_comes_first_with_the_deadline_in_their_zone(story, login):
    story.tapai_user.time_zone = "Asia/Taipei"
    change = _published(story, action=ACTION, act_by=T0 + 72 * HOUR)
    page = _page(login, story.tapai_user, change)
    assert page.index("What you need to do") < page.index("What changes")
    # T0 + 72 h is Thu 5 Nov 09:00 UTC: 17:00 in Taipei, three days ahead.
    assert "Act by <time" in page
    assert "Thu 5 Nov 2026 17:00 UTC+8 (09:00 UTC)</time>" in page
    assert "(in 3 days)" in page
    assert "<code>/v2/blend</code>" in page
    assert "CST" not in page


def test_html_and_scripts_in_what_customers_need_to_do_are_never_markup(story, login):
    change = _published(
        story, action='Do this <script>alert("x")</script><img src=x onerror="alert(1)">'
    )
    page = _page(login, story.tapai_user, change)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def test_after_an_email_acknowledgement_the_page_says_who_and_asks_nothing_more(story, login):
    change = _published(story, ack=True)
    before = _page(login, story.tapai_user, change)
    assert "acknowledgement requested" in before
    assert f'action="/changes/{change.id}/acknowledge"' in before
    acknowledge(
        change, story.tapai.id, now=T0 + HOUR, channel=CHANNEL_EMAIL, recipient="ops1@tapai.example"
    )
    db.session.commit()
    page = _page(login, story.tapai_user, change)
    assert re.search(
        r"Acknowledged by Ops 1 .* on <time[^>]*>Mon 2 Nov 2026 10:00 UTC</time>", page
    )
    assert "acknowledgement requested" not in page and "not acknowledged" not in page
    assert f'action="/changes/{change.id}/acknowledge"' not in page
    # Staff still see that the change asks for acknowledgements while it is open.
    assert "acknowledgement requested" in _page(login, story.ana, change)


def test_no_badge_on_completed_or_cancelled_changes(story, login, clock):
    done = _published(story, ack=True)
    deliver(done, T0)
    clock.set(T0 + 100 * HOUR)
    lifecycle.start(done, actor=story.ana, now=clock.now())
    lifecycle.complete(done, actor=story.ana, now=clock.now())
    db.session.commit()
    for user in (story.tapai_user, story.ana):
        page = _page(login, user, done)
        assert "acknowledgement requested" not in page
        assert f'action="/changes/{done.id}/acknowledge"' not in page


def test_cancelled_change_shows_a_banner_with_the_reason_and_asks_nothing(story, login):
    change = _published(story, ack=True, action=ACTION, act_by=T0 + 72 * HOUR)
    lifecycle.cancel(change, actor=story.ana, now=T0 + HOUR, reason="Supplier delay")
    db.session.commit()
    page = _page(login, story.tapai_user, change)
    banner = re.search(r'<div class="banner cancelled"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert "cancelled" in banner and "Reason: Supplier delay" in banner
    assert "Nothing will change for Tapai" in banner
    assert "acknowledgement requested" not in page and "What you need to do" not in page
    assert 'id="acknowledgement"' not in page  # nothing asked, nothing given: no empty card


def test_no_acknowledgement_card_when_nothing_is_asked(story, login, clock):
    change = _published(story)  # no acknowledgement required, nothing to do
    page = _page(login, story.tapai_user, change)
    assert "Acknowledgement ·" not in page and "not acknowledged" not in page
    assert f'action="/changes/{change.id}/acknowledge"' not in page
    assert "Your response · Tapai" in page  # it may still object while scheduled
    deliver(change, T0)
    clock.set(T0 + 100 * HOUR)
    lifecycle.start(change, actor=story.ana, now=clock.now())
    lifecycle.complete(change, actor=story.ana, now=clock.now())
    db.session.commit()
    assert 'id="acknowledgement"' not in _page(login, story.tapai_user, change)


def test_a_change_with_something_to_do_asks_for_an_acknowledgement(story, login):
    change = _published(story, action=ACTION)  # not contractually required
    page = _page(login, story.tapai_user, change)
    assert "Acknowledgement · Tapai" in page
    assert f'action="/changes/{change.id}/acknowledge"' in page
    acknowledge(change, story.tapai.id, now=T0, channel=CHANNEL_PORTAL, user=story.tapai_user)
    db.session.commit()
    page = _page(login, story.tapai_user, change)
    assert "Acknowledged by Ops" in page
    assert f'action="/changes/{change.id}/acknowledge"' not in page


def test_history_reads_in_plain_words(story, login):
    change = _published(story)
    earlier = replace(services.input_of(change), starts_at=T0 + 80 * HOUR, ends_at=T0 + 82 * HOUR)
    services.update_change(change, earlier, actor=story.ana, now=T0 + HOUR)
    later = replace(earlier, starts_at=T0 + 81 * HOUR)  # later, same end: not material
    services.update_change(change, later, actor=story.ana, now=T0 + 2 * HOUR)
    lifecycle.cancel(change, actor=story.ana, now=T0 + 3 * HOUR, reason="Supplier delay")
    db.session.commit()
    page = _page(login, story.tapai_user, change)
    history = page[page.index('id="revisions"') :]
    headlines = re.findall(r'<strong class="history-what">([^<]+)</strong>', history)
    assert headlines == [
        "Cancelled: Supplier delay",
        "Rescheduled: your notice period is unchanged",
        "Rescheduled: your notice period restarted",
        "Announced",
    ]
    assert "Start moved earlier: Fri 6 Nov 2026 09:00 UTC → Thu 5 Nov 2026 17:00 UTC" in history
    for internal in ("material", "publish", "NOTICE CLOCK", "non-material", "revision 2"):
        assert internal not in history
    staff = _page(login, story.ana, change)
    assert "revision 2 · update · start moved earlier" in staff


def test_customer_home_opens_with_what_needs_action_soonest_deadline_first(story, login):
    story.tapai_user.time_zone = "Asia/Taipei"
    later = _published(story, ack=True, start=T0 + 120 * HOUR)
    sooner = _published(story, action=ACTION, act_by=T0 + 30 * HOUR)
    _published(story)  # asks nothing: not listed
    done = _published(story, ack=True, start=T0 + 110 * HOUR)
    acknowledge(done, story.tapai.id, now=T0, channel=CHANNEL_PORTAL, user=story.tapai_user)
    db.session.commit()
    g.pop("_login_user", None)
    home = login(story.tapai_user).get("/").get_data(as_text=True)
    section = home[
        home.index('id="needs-action"') : home.index("</section>", home.index("needs-action"))
    ]
    links = re.findall(r'href="/changes/(\d+)"', section)
    assert links == [str(sooner.id), str(later.id)]
    assert "2 changes to acknowledge or act on" in section
    assert "Act by <time" in section and "Tue 3 Nov 2026 23:00 UTC+8 (15:00 UTC)" in section
    assert "Starts <time" in section and "(in 5 days)" in section
    assert ">Act</span>" in section and ">Acknowledge</span>" in section


def test_email_link_page_without_signing_in_shows_the_tenants_zone(story, client):
    story.tapai.time_zone = "Asia/Taipei"
    change = _published(story, ack=True, action=ACTION, act_by=T0 + 72 * HOUR)
    link = "/ack/" + make_ack_token(change.id, 1, story.tapai.id, "ops1@tapai.example")
    page = client.get(link).get_data(as_text=True)
    # 09:00 UTC on Fri 6 Nov is 17:00 in Taipei: the weekday the email gave, not UTC's.
    assert "Fri 6 Nov 2026 17:00 UTC+8 (09:00 UTC)" in page
    assert "Thu 5 Nov 2026 17:00 UTC+8 (09:00 UTC)" in page  # act by
    assert "What you need to do" in page and "<code>/v2/blend</code>" in page
    assert "Times shown in Asia/Taipei" in page
