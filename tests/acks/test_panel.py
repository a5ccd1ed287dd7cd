"""The acks panel on the change page (changes.show): what each viewer sees, and that its
forms post to the acks routes with CSRF tokens and come back to the change page."""

import re

import pytest
from sqlalchemy import select

from portal.acks import services as ack_services
from portal.acks.models import Acknowledgement, Objection
from portal.acks.services import object_to, waive
from portal.extensions import db
from tests.acks.conftest import csrf_token_from, db_state
from tests.conftest import T0


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def _forms(html: str) -> list[tuple[str, str]]:
    """(action, csrf token) of every POST form inside the acknowledgement panel."""
    panel = html[html.index('id="acknowledgement"') :]
    panel = panel[: panel.index("</section>")]
    found = []
    for form in re.findall(r'<form method="post"[^>]*>.*?</form>', panel, re.S):
        action = re.search(r'action="([^"]+)"', form).group(1)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
        found.append((action, token.group(1) if token else ""))
    return found


def _page(story):
    return f"/changes/{story.change.id}"


def test_customer_panel_acknowledge_button_posts_with_csrf_and_returns(login, story):
    story.change.ack_required = True
    db.session.commit()
    client = login(story.tapai_user)
    html = client.get(_page(story)).get_data(as_text=True)
    assert "Acknowledgement · Tapai" in html and "not acknowledged" in html
    assert f'href="/changes/{story.change.id}/object"' in html
    assert "Waive remaining notice" not in html  # not a tenant admin
    [(action, token)] = _forms(html)
    assert action == f"/changes/{story.change.id}/acknowledge" and token
    before = db_state()
    assert client.post(action).status_code == 400  # no token: refused, nothing recorded
    assert db_state() == before
    response = client.post(action, data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    html = client.get(_page(story)).get_data(as_text=True)
    assert "Acknowledged by Tom Tapai" in html and "(version 1, via portal)" in html
    assert "Acknowledged. Thank you" in html  # the flash message
    assert _forms(html) == []


def test_tenant_admin_sees_the_waive_link_and_the_waiver_once_given(login, story):
    client = login(story.tapai_admin)
    html = client.get(_page(story)).get_data(as_text=True)
    assert f'href="/changes/{story.change.id}/waive"' in html
    form = client.get(f"{_page(story)}/waive").get_data(as_text=True)
    response = client.post(
        f"{_page(story)}/waive", data={"csrf_token": csrf_token_from(form), "note": "ok"}
    )
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    html = client.get(_page(story)).get_data(as_text=True)
    assert "notice waived</span> by Ann Admin" in html
    assert "Waive remaining notice" not in html


def test_objection_shows_to_tenant_and_staff_and_the_team_answers_in_the_panel(login, story):
    object_to(
        story.change, story.tapai.id, user=story.tapai_user, reason="<b>Launch</b> week", now=T0
    )
    db.session.commit()
    engineer = login(story.engineer)
    html = engineer.get(_page(story)).get_data(as_text=True)
    assert "open objection" in html and "&lt;b&gt;Launch&lt;/b&gt; week" in html
    [(action, token)] = _forms(html)
    objection = db.session.execute(select(Objection)).scalar_one()
    assert action == f"/objections/{objection.id}/answer" and token
    response = engineer.post(action, data={"csrf_token": token, "answer": "Moved by a week"})
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    customer = login(story.tapai_user)
    html = customer.get(_page(story)).get_data(as_text=True)
    assert "Your organisation" in html and "Moved by a week" in html and "answered" in html


def test_account_manager_sees_their_tenants_objections_and_waivers_only(login, story, admin):
    object_to(story.change, story.tapai.id, user=story.tapai_user, reason="Tapai reason", now=T0)
    object_to(story.change, story.ptu.id, user=story.ptu_user, reason="Ptu reason", now=T0)
    waive(story.change, story.ptu.id, user=admin, now=T0, channel="portal", agreed_by="Pat")
    db.session.commit()
    html = login(story.am).get(_page(story)).get_data(as_text=True)
    assert "Tapai reason" in html and "Ptu reason" not in html
    assert "agreed by Pat" not in html
    assert "agreed by Pat" in login(admin).get(_page(story)).get_data(as_text=True)
    assert "Record an offline waiver" in html
    assert _forms(html) == []  # account managers do not answer for the team
    html = login(story.ptu_user).get(_page(story)).get_data(as_text=True)
    assert "Ptu reason" in html and "Tapai reason" not in html


def test_staff_panel_counts_acknowledged_tenants(login, story):
    from portal.acks.services import acknowledge

    acknowledge(story.change, story.tapai.id, user=story.tapai_user, now=T0, channel="portal")
    waive(story.change, story.tapai.id, user=story.tapai_admin, now=T0, channel="portal")
    db.session.commit()
    html = login(story.engineer).get(_page(story)).get_data(as_text=True)
    assert "1 of 2 affected tenants acknowledged" in html
    assert "notice waived</span> <strong>Tapai</strong>, version 1: agreed by Ann Admin" in html
    assert "A waiver, not a breach" in html
    assert db.session.execute(select(Acknowledgement)).scalar_one().counts


def test_objection_form_carries_a_csrf_token_and_returns_to_the_change(login, story):
    client = login(story.tapai_user)
    form = client.get(f"{_page(story)}/object").get_data(as_text=True)
    before = db_state()
    assert client.post(f"{_page(story)}/object", data={"reason": "x"}).status_code == 400
    assert db_state() == before
    response = client.post(
        f"{_page(story)}/object",
        data={"csrf_token": csrf_token_from(form), "reason": "Launch week"},
    )
    assert response.status_code == 302 and response.headers["Location"] == _page(story)
    assert "Launch week" in client.get(_page(story)).get_data(as_text=True)


def test_waiver_offers_follow_the_waiver_service_rule(login, story, monkeypatch):
    """Both panels ask ``acks.services.may_waive`` (the statuses ``waive`` takes)."""
    assert "Record an offline waiver" in login(story.am).get(_page(story)).get_data(as_text=True)
    assert "Waive remaining notice" in login(story.tapai_admin).get(_page(story)).get_data(
        as_text=True
    )
    monkeypatch.setattr(ack_services, "WAIVABLE", ())
    assert "Record an offline waiver" not in login(story.am).get(_page(story)).get_data(
        as_text=True
    )
    assert "Waive remaining notice" not in login(story.tapai_admin).get(_page(story)).get_data(
        as_text=True
    )
