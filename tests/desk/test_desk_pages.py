"""The desk's web pages: scoping per role, filters, search, pagination and bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.acks.models import CHANNEL_PORTAL
from portal.acks.services import acknowledge, object_to, waive
from portal.extensions import db
from tests.conftest import T0
from tests.desk.conftest import deliver, fail


@pytest.fixture
def progressed(world):
    """Tapai delivered and acknowledged; Ptu delivered; Silent never queued; Evil failed;
    Ptu objects; Tapai's admin waives."""
    w = world
    deliver(w.change, w.tapai, T0 + dt.timedelta(minutes=1))
    deliver(w.change, w.ptu, T0 + dt.timedelta(minutes=3))
    deliver(w.change, w.other, T0 + dt.timedelta(minutes=2))
    fail(w.change, w.evil)
    acknowledge(
        w.change,
        w.tapai.id,
        now=T0 + dt.timedelta(hours=1),
        channel=CHANNEL_PORTAL,
        user=w.tapai_user,
    )
    object_to(
        w.change,
        w.ptu.id,
        user=w.ptu_user,
        reason="Our launch is that week",
        now=T0 + dt.timedelta(hours=2),
    )
    waive(
        w.change,
        w.tapai.id,
        user=w.tapai_admin,
        now=T0 + dt.timedelta(hours=3),
        channel=CHANNEL_PORTAL,
    )
    db.session.commit()
    return w


def test_account_manager_sees_only_assigned_tenants_in_matrix(client, login, progressed):
    w = progressed
    body = login(w.am).get(f"/desk/changes/{w.change.id}").get_data(as_text=True)
    assert "Tapai" in body and "Ptu" in body and "Silent Ltd" in body
    assert "Other Co" not in body


def test_admin_sees_every_tenant(client, login, progressed, admin_user):
    body = login(admin_user).get(f"/desk/changes/{progressed.change.id}").get_data(as_text=True)
    for name in ("Tapai", "Ptu", "Other Co", "Silent Ltd"):
        assert name in body


def test_matrix_shows_delivery_failure_reason_and_missing_contact(client, login, progressed):
    body = login(progressed.am).get(f"/desk/changes/{progressed.change.id}").get_data(as_text=True)
    assert "550 5.1.1 mailbox unavailable" in body
    assert "no notice contact" in body
    assert "Tom Tapai" in body  # acknowledged by
    assert "Our launch is that week" in body
    assert "agreed by Ann Admin" in body


@pytest.mark.parametrize("role", ["tapai_user", "engineer", "outsider_engineer"])
def test_desk_refused_to_customers_and_engineers(client, login, progressed, role):
    assert login(getattr(progressed, role)).get("/desk/").status_code == 403
    assert client.get(f"/desk/changes/{progressed.change.id}").status_code == 403


def test_anonymous_is_sent_to_login(client, progressed):
    assert client.get("/desk/").status_code == 302


def test_change_not_affecting_my_tenants_is_404(client, login, progressed, make_user):
    lonely = make_user("am3@provider.example", is_account_manager=True)
    db.session.commit()
    assert login(lonely).get(f"/desk/changes/{progressed.change.id}").status_code == 404
    assert client.get("/desk/changes/999999").status_code == 404


def test_tenant_not_assigned_is_404(client, login, progressed):
    c = login(progressed.am)
    assert c.get("/desk/tenants/other").status_code == 404
    assert c.get("/desk/tenants/tapai").status_code == 200
    assert c.get(f"/desk/tenants/{progressed.other.id}").status_code == 404


@pytest.mark.parametrize(
    "flt,present,absent",
    [
        ("not_acknowledged", ["Ptu", "Silent Ltd"], ["Tapai"]),
        ("not_delivered", ["Silent Ltd", "HYPERLINK"], ["Tapai", "Ptu"]),
        ("objecting", ["Ptu"], ["Tapai", "Silent Ltd"]),
        ("breached", [], ["Tapai", "Ptu", "Silent Ltd"]),
    ],
)
def test_filters(client, login, progressed, flt, present, absent):
    r = login(progressed.am).get(f"/desk/changes/{progressed.change.id}?filter={flt}")
    body = r.get_data(as_text=True)
    table = body.split("<table", 1)[1] if "<table" in body else ""
    for name in present:
        assert name in table
    for name in absent:
        assert f">{name}</a>" not in table


def test_search_by_name_or_slug(client, login, progressed):
    c = login(progressed.am)
    body = c.get(f"/desk/changes/{progressed.change.id}?q=TAP").get_data(as_text=True)
    assert ">Tapai</a>" in body and ">Ptu</a>" not in body
    body = c.get(f"/desk/changes/{progressed.change.id}?q=%25").get_data(as_text=True)
    assert "No tenant matches" in body  # wildcards are literal


def test_pagination(client, login, progressed):
    c = login(progressed.am)
    first = c.get(f"/desk/changes/{progressed.change.id}?per_page=2").get_data(as_text=True)
    assert "page 1 of 2" in first
    second = c.get(f"/desk/changes/{progressed.change.id}?per_page=2&page=2").get_data(as_text=True)
    assert "page 2 of 2" in second
    # A page past the end shows the last page rather than nothing.
    assert "page 2 of 2" in c.get(
        f"/desk/changes/{progressed.change.id}?per_page=2&page=99"
    ).get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "page=abc",
        "page=0",
        "page=-3",
        "per_page=100000",
        "filter=bogus",
        "filter=%3Cscript%3E",
        "q=" + "x" * 300,
    ],
)
def test_bad_parameters_show_a_message_not_an_error(client, login, progressed, query):
    r = login(progressed.am).get(f"/desk/changes/{progressed.change.id}?{query}")
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    assert "showing the default view instead" in body
    assert "<script>" not in body


def test_desk_index_lists_changes_with_progress(client, login, progressed):
    client = login(progressed.am)
    body = client.get("/desk/").get_data(as_text=True)
    assert "Upgrade the fusion model" in body
    assert "2 / 4" in body  # delivered to Tapai and Ptu of Amy's four tenants
    assert "n/a" in body and "1 / 4" not in body  # no acknowledgement is asked
    progressed.change.ack_required = True
    db.session.commit()
    body = client.get("/desk/").get_data(as_text=True)
    assert "1 / 4" in body  # acknowledged by Tapai
    assert "1 to chase" in body  # Ptu was told and is silent; Silent and Evil were not told
    assert "filter=not_acknowledged" in body


def test_desk_index_tabs_upcoming_soonest_first_and_past(client, login, progressed, make_change):
    from portal.changes.lifecycle import cancel
    from portal.changes.services import publish

    w = progressed
    soon = make_change(
        services=[w.service],
        author=w.engineer,
        title="Sooner change",
        starts_at=T0 + dt.timedelta(days=5),
    )
    publish(soon, actor=w.engineer, now=T0)
    gone = make_change(
        services=[w.service],
        author=w.engineer,
        title="Called off",
        starts_at=T0 + dt.timedelta(days=6),
    )
    publish(gone, actor=w.engineer, now=T0)
    cancel(gone, actor=w.engineer, now=T0, reason="Not needed.")
    db.session.commit()
    client = login(w.am)
    upcoming = client.get("/desk/").get_data(as_text=True)
    assert upcoming.index("Sooner change") < upcoming.index("Upgrade the fusion model")
    assert "Called off" not in upcoming and 'aria-current="page">Upcoming' in upcoming
    past = client.get("/desk/?when=past").get_data(as_text=True)
    assert "Called off" in past and "Sooner change" not in past


def test_my_tenants_list(client, login, progressed):
    body = login(progressed.am).get("/desk/tenants").get_data(as_text=True)
    assert "Tapai" in body and "Other Co" not in body


def test_other_account_manager_sees_only_theirs(client, login, progressed):
    body = login(progressed.other_am).get("/desk/tenants").get_data(as_text=True)
    assert "Other Co" in body and "Tapai" not in body


def test_tenant_history(client, login, progressed):
    body = login(progressed.am).get("/desk/tenants/tapai").get_data(as_text=True)
    assert "Upgrade the fusion model" in body
    assert "Tom Tapai" in body and "waived" in body
    assert f"/certificates/{progressed.change.id}/tapai" in body


def test_summary_charts_are_inline_svg(client, login, progressed):
    r = login(progressed.am).get(f"/desk/changes/{progressed.change.id}/summary")
    body = r.get_data(as_text=True)
    assert r.status_code == 200
    # No chart script: the only script is the site's own file every page loads (issue 17 CSP).
    assert body.count("<svg") == 2
    assert body.count("<script") == 1 and '<script src="/static/forewarn.js" defer>' in body
    assert "Acknowledgement progress: 1 of 4 tenants" in body
    assert "25% acknowledged" in body
