"""Optional notices: customer users opt in by impact and service; one-click unsubscribe."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.changes.services import publish
from portal.extensions import db
from portal.notify.models import SUBSCRIPTION, EmailPreference, OutboxMessage
from tests.conftest import T0


@pytest.fixture
def customer(world, make_user):
    user = make_user("dev@tapai.example", tenant=world.tapai, name="Dana Dev")
    db.session.commit()
    return user


def test_customer_opts_in_and_gets_an_optional_copy_with_list_unsubscribe(
    world, customer, login, dispatch, sink
):
    client = login(customer)
    page = client.get("/settings/email")
    assert page.status_code == 200 and "Face Fusion API" in page.text
    resp = client.post(
        "/settings/email", data={"min_impact": "maintenance", "services": [world.service.id]}
    )
    assert resp.status_code == 302
    pref = db.session.scalar(select(EmailPreference).filter_by(user_id=customer.id))
    assert pref.min_impact == "maintenance" and not pref.all_services
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()
    row = db.session.scalar(select(OutboxMessage).filter_by(kind=SUBSCRIPTION))
    assert row.recipient == "dev@tapai.example"
    dispatch()
    [msg] = sink.to("dev@tapai.example")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", msg["List-Unsubscribe"]).group(1)
    assert url.startswith("http://portal.test/unsubscribe/")
    # One-click (RFC 8058): the mail client POSTs, with no session and no CSRF token.
    anonymous = client.application.test_client()
    done = anonymous.post(
        url.removeprefix("http://portal.test"), data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status_code == 200 and "no longer receives" in done.text
    db.session.expire_all()
    assert (
        db.session.scalar(select(EmailPreference).filter_by(user_id=customer.id)).min_impact is None
    )
    # Contractual notices to the notice contacts carry no such header.
    assert all(m["List-Unsubscribe"] is None for m in sink.received if m is not msg)


def test_a_preference_above_the_changes_impact_sends_nothing(world, customer, login):
    login(customer).post("/settings/email", data={"min_impact": "breaking", "all_services": "y"})
    publish(world.change, actor=world.engineer, now=T0)  # degradation < breaking
    db.session.commit()
    assert db.session.scalar(select(OutboxMessage).filter_by(kind=SUBSCRIPTION)) is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"min_impact": "earthquake"}, "not a valid choice"),
        ({"min_impact": "maintenance", "services": ["999999"]}, "not a valid choice"),
        ({"min_impact": "maintenance", "services": ["abc"]}, "could not be coerced"),
        ({"min_impact": "maintenance"}, "choose at least one service"),
    ],
)
def test_bad_preferences_are_refused_with_a_message(world, customer, login, data, message):
    resp = login(customer).post("/settings/email", data=data)
    assert resp.status_code == 400, resp.text[resp.text.find("<main") :]
    assert message in resp.text.lower()
    assert db.session.scalar(select(EmailPreference)) is None


def test_a_service_of_another_tenant_cannot_be_chosen(
    world, customer, login, make_service, make_usage, make_tenant
):
    elsewhere = make_service(world.team, "secret-api", "Secret API")
    make_usage(make_tenant("rival"), elsewhere)
    db.session.commit()
    page = login(customer).get("/settings/email")
    assert "Secret API" not in page.text
    resp = login(customer).post(
        "/settings/email", data={"min_impact": "maintenance", "services": [elsewhere.id]}
    )
    assert resp.status_code == 400


def test_staff_have_no_preferences_page(world, login):
    assert login(world.engineer).get("/settings/email").status_code == 404


def test_preferences_form_needs_csrf(app, world, customer, login):
    app.config["WTF_CSRF_ENABLED"] = True
    resp = login(customer).post(
        "/settings/email", data={"min_impact": "maintenance", "all_services": "y"}
    )
    assert resp.status_code == 400
    assert db.session.scalar(select(EmailPreference)) is None


@pytest.mark.parametrize("token", ["nonsense", "x" * 2000, "WyJub3RpY2UiLDEsImEiXQ.bad"])
def test_a_forged_unsubscribe_link_is_refused(client, token):
    assert client.post(f"/unsubscribe/{token}").status_code == 404
    assert client.get(f"/unsubscribe/{token}").status_code == 404


def test_unsubscribe_link_get_only_asks_to_confirm(app, published, client):
    from portal.notify.unsubscribe import unsubscribe_url

    row = OutboxMessage(
        kind="reminder", tenant_id=published.tapai.id, recipient="ops1@tapai.example"
    )
    with app.test_request_context():
        url = unsubscribe_url(row).removeprefix("http://portal.test")
    page = client.get(url)
    assert page.status_code == 200 and "Stop sending reminders" in page.text
    from portal.notify.models import ReminderOptOut

    assert db.session.scalar(select(ReminderOptOut)) is None
    assert client.post(url).status_code == 200
    assert db.session.scalar(select(ReminderOptOut)).email == "ops1@tapai.example"
