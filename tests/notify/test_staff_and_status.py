"""Internal messages to staff, and what the change page and the gate are told."""

from __future__ import annotations

from flask import render_template
from flask_login import login_user
from sqlalchemy import select

from portal.changes.lifecycle import gates
from portal.extensions import db
from portal.notify.models import OBJECTION, OutboxMessage
from portal.notify.outbox import notify_staff
from portal.notify.status import deliveries_for_change, gate_reasons
from tests.conftest import T0


def test_objection_reaches_staff_with_the_reason(published, dispatch, sink):
    change = published.change
    n = notify_staff(
        change,
        kind=OBJECTION,
        now=T0,
        tenant_id=published.tapai.id,
        recipients=[
            ("eng@provider.example", "Eve"),
            ("AM@provider.example", "Al"),
            ("am@provider.example", "dup"),
        ],
        note="Our launch is that week <b>please</b> move it",
    )
    assert n == 2
    # A second objection is a second message, not a clash in the outbox.
    assert (
        notify_staff(
            change,
            kind=OBJECTION,
            now=T0,
            tenant_id=published.tapai.id,
            recipients=[("eng@provider.example", "Eve")],
            note="again",
        )
        == 1
    )
    db.session.commit()
    dispatch()
    msgs = sink.to("eng@provider.example")
    assert len(msgs) == 2
    assert msgs[0]["Subject"] == "Objection from Tapai: Upgrade the fusion model"
    assert msgs[0]["Message-ID"] != msgs[1]["Message-ID"]
    html = msgs[0].get_body(preferencelist=("html",)).get_content()
    assert "&lt;b&gt;please&lt;/b&gt;" in html
    assert "Our launch is that week" in msgs[0].get_body(preferencelist=("plain",)).get_content()


def test_notify_staff_refuses_a_customer_kind(published):
    import pytest

    with pytest.raises(ValueError):
        notify_staff(published.change, kind="notice", recipients=[("a@b.example", "")], now=T0)


def test_gate_says_queued_until_delivered_then_opens_after_the_window(published, dispatch, clock):
    change = published.change
    shut = {g.slug: g.state for g in gates(change, T0)}
    assert not shut["tapai"].open and shut["tapai"].reason == "notice queued, not delivered yet"
    dispatch()
    after = {g.slug: g.state for g in gates(change, T0)}
    assert after["tapai"].reason != "notice queued, not delivered yet"
    assert after["tapai"].opens_at == change.starts_at
    assert gate_reasons(change.id, []) == {}


def test_customer_sees_only_their_own_tenant_in_the_delivery_panel(
    app, published, dispatch, make_user
):
    dispatch()
    customer = make_user("c@tapai.example", tenant=published.tapai)
    db.session.commit()
    with app.test_request_context("/"):
        login_user(customer)
        data = deliveries_for_change(published.change, customer)
        assert [d.name for d in data.tenants] == ["Tapai"]
        html = render_template("notify/_deliveries.html", change=published.change)
        assert "Tapai" in html and "Ptu" not in html and "Other Co" not in html
        login_user(published.engineer)
        html = render_template("notify/_deliveries.html", change=published.change)
        assert "Tapai" in html and "Ptu" in html and "Other Co" in html
        assert "delivered" in html
        manager = deliveries_for_change(published.change, published.manager)
        assert sorted(d.name for d in manager.tenants) == ["Ptu", "Tapai"]
    rows = db.session.scalars(select(OutboxMessage)).all()
    assert len(rows) == 5
