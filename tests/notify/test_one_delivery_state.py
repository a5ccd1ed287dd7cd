"""One function decides and words a tenant's delivery state (``notice_state``): the gate, the
change page, the desk, its CSV and API say the same (issue #11 item 7)."""

from __future__ import annotations

import datetime as dt

from portal.changes.lifecycle import gates
from portal.desk.matrix import all_rows
from portal.desk.params import Listing
from portal.notify.status import notice_state
from tests.conftest import T0


def desk_rows(world, now):
    return {r.slug: r for r in all_rows(world.change, world.manager, Listing(), now)}


def api_gates(world, now):
    return {g.slug: g for g in gates(world.change, now)}


def test_retrying_counts_contacts_not_attempts():
    state = notice_state(
        notice_given_at=None, sent=0, waiting=3, failed=0, retrying=3, retry_error="451 later"
    )
    assert state.state == "retrying" and state.contacts == 3 and state.retrying == 3
    assert state.reason == "notice not delivered yet, retrying: 451 later"


def test_delivered_with_a_bounced_contact_says_so():
    state = notice_state(
        notice_given_at=T0,
        sent=1,
        waiting=0,
        failed=1,
        retrying=0,
        failures=[("ops1@tapai.example", "550 5.1.1 No such user")],
    )
    assert state.state == "delivered" and state.partly_bounced
    assert state.reason == (
        "notice given; 1 of 2 contacts bounced: ops1@tapai.example: 550 5.1.1 No such user"
    )


def test_desk_and_gate_say_the_same_words_while_retrying(
    published, dispatch, smtp_server, clock, login
):
    smtp_server.stop()
    dispatch()
    now = clock.now()
    desk, gate = desk_rows(published, now), api_gates(published, now)
    tapai = desk["tapai"]
    assert tapai.delivery.state == "retrying" and tapai.delivery.label == "retrying"
    assert tapai.delivery.reason == gate["tapai"].state.reason == tapai.gate.reason
    assert tapai.gate.reason.startswith("notice not delivered yet, retrying: connection refused")
    # Ptu was not tried yet (equal notice): queued, in the same words on both.
    assert desk["ptu"].delivery.state == "queued"
    assert desk["ptu"].gate.reason == gate["ptu"].state.reason == desk["ptu"].delivery.reason
    page = login(published.manager).get(f"/desk/changes/{published.change.id}")
    html = page.get_data(as_text=True)
    assert "(2 of 2 contacts)" in html and "attempts)" not in html


def test_a_bounced_contact_beside_a_delivered_one_shows_on_change_page_and_desk(
    published, dispatch, sink, login, clock
):
    sink.replies["ops1@tapai.example"] = ["550 5.1.1 No such user"]
    dispatch()
    now = clock.now() + dt.timedelta(minutes=1)
    tapai = desk_rows(published, now)["tapai"]
    assert tapai.delivery.state == "delivered" and tapai.delivery.partly_bounced
    assert "ops1@tapai.example: 550 5.1.1 No such user" in tapai.delivery.reason
    client = login(published.manager)
    desk = client.get(f"/desk/changes/{published.change.id}").get_data(as_text=True)
    assert "a contact bounced" in desk and "550 5.1.1 No such user" in desk
    page = client.get(f"/changes/{published.change.id}").get_data(as_text=True)
    assert "a contact bounced" in page and "550 5.1.1 No such user" in page
