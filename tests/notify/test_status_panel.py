"""The change page's delivery panel: counted in SQL (a constant number of statements whatever
the number of tenants), problems listed first with the server's answer, the rest linked to
the desk; customers only ever see their own tenant."""

from __future__ import annotations

import datetime as dt

from flask_login import login_user

from portal.auth.models import User
from portal.changes.models import Change
from portal.changes.services import publish
from portal.extensions import db
from portal.notify.status import deliveries_for_change
from tests.conftest import T0
from tests.statements import count_statements


def _change_for(n, *, make_tenant, make_service, make_usage, make_change, engineer, team):
    service = make_service(team)
    tenants = [make_tenant(contacts=2) for _ in range(n)]
    for t in tenants:
        make_usage(t, service)
    change = make_change(services=[service], author=engineer, starts_at=T0 + dt.timedelta(days=10))
    publish(change, actor=engineer, now=T0)
    db.session.commit()
    return change


def test_panel_costs_the_same_sql_for_3_and_40_tenants(
    app,
    client,
    login,
    make_user,
    make_team,
    make_tenant,
    make_service,
    make_usage,
    make_change,
    dispatch,
    sink,
):
    team = make_team()
    engineer = make_user(teams=[team])
    admin = make_user(is_admin=True)
    kw = dict(
        make_tenant=make_tenant,
        make_service=make_service,
        make_usage=make_usage,
        make_change=make_change,
        engineer=engineer,
        team=team,
    )
    small = _change_for(3, **kw)
    large = _change_for(40, **kw)
    dispatch()
    ids = {"small": small.id, "large": large.id}
    users = {"engineer": engineer.id, "admin": admin.id}
    counts = {}
    for who, user in (("engineer", engineer), ("admin", admin)):
        c = login(user)
        for name, cid in ids.items():
            n, resp = count_statements(lambda cid=cid, c=c: c.get(f"/changes/{cid}"))
            assert resp.status_code == 200 and 'id="deliveries"' in resp.text
            counts[who, name] = n
        assert counts[who, "small"] == counts[who, "large"]
    panel = {}
    for name, cid in ids.items():

        def load_and_count(cid=cid):
            with app.test_request_context("/"):
                user = db.session.get(User, users["engineer"])
                change = db.session.get(Change, cid)
                login_user(user)
                return deliveries_for_change(change, user)

        seen: list[str] = []
        panel[name], data = count_statements(load_and_count, seen)
        # No statement reads the change's notice rows one by one: only the listed tenants'.
        for sql in seen:
            if "outbox_messages.recipient" in sql:
                assert "outbox_messages.tenant_id IN" in sql, sql
    # Two loads (user, change), then the panel's own statements: the same for 3 and 40.
    assert panel["small"] == panel["large"] <= 2 + 3
    assert data.total == 40 and data.counts == {"delivered": 40}
    assert len(data.tenants) == 20 and data.hidden == 20


def test_failed_tenants_come_first_with_the_servers_answer_and_a_link_to_the_desk(
    app, published, dispatch, sink, make_user
):
    for contact in published.other.contacts:
        sink.replies[contact.email.lower()] = ["550 5.1.1 mailbox unavailable"]
    dispatch()
    admin = make_user(is_admin=True)
    db.session.commit()
    with app.test_request_context("/"):
        login_user(admin)
        data = deliveries_for_change(published.change, admin, limit=1)
        assert data.counts == {"failed": 1, "delivered": 2} and data.total == 3
        assert data.problems == 1 and data.hidden == 2
        (other,) = data.tenants
        assert other.name == "Other Co" and other.state == "failed" and other.failed == 2
        assert all("550 5.1.1" in answer for _r, answer in other.failures)
        assert other.reason.startswith("notice failed: ")
        full = deliveries_for_change(published.change, admin)
        assert [d.state for d in full.tenants] == ["failed", "delivered", "delivered"]
        assert full.hidden == 0


def test_panel_links_to_the_desk_when_tenants_are_left_out(
    app, published, dispatch, sink, make_user, monkeypatch
):
    from flask import render_template

    monkeypatch.setattr("portal.notify.status.DETAIL_LIMIT", 1)
    monkeypatch.setattr(deliveries_for_change, "__kwdefaults__", {"limit": 1})
    dispatch()
    with app.test_request_context("/"):
        login_user(published.manager)
        html = render_template("notify/_deliveries.html", change=published.change)
        assert "Showing 1 of 2 tenants" in html
        assert f"/desk/changes/{published.change.id}" in html
        login_user(published.engineer)
        html = render_template("notify/_deliveries.html", change=published.change)
        assert "Showing 1 of 3 tenants" in html and "/desk/" not in html


def test_customer_counts_cover_only_their_own_tenant(app, published, dispatch, sink, make_user):
    for contact in published.other.contacts:
        sink.replies[contact.email.lower()] = ["550 5.1.1 mailbox unavailable"]
    dispatch()
    customer = make_user("c@tapai.example", tenant=published.tapai)
    db.session.commit()
    with app.test_request_context("/"):
        login_user(customer)
        data = deliveries_for_change(published.change, customer)
        assert data.counts == {"delivered": 1} and data.total == 1
        assert [d.name for d in data.tenants] == ["Tapai"]


def test_queued_and_retrying_states_are_counted(app, published, dispatch, sink, make_user):
    admin = make_user(is_admin=True)
    db.session.commit()
    with app.test_request_context("/"):
        login_user(admin)
        assert deliveries_for_change(published.change, admin).counts == {"queued": 3}
    (ptu_contact,) = published.ptu.contacts
    sink.replies[ptu_contact.email.lower()] = ["451 4.3.0 try again later"]
    dispatch()
    with app.test_request_context("/"):
        login_user(admin)
        data = deliveries_for_change(published.change, admin)
        assert data.counts == {"retrying": 1, "delivered": 2}
        ptu = data.tenants[0]
        assert ptu.name == "Ptu" and ptu.state == "retrying" and "451" in ptu.retry_error
