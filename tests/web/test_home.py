"""The start page lists what is coming up for the signed-in user, and flags for a customer
the changes still waiting for their organisation's acknowledgement."""

from __future__ import annotations

from portal.acks.models import CHANNEL_PORTAL
from portal.acks.services import acknowledge
from portal.extensions import db
from tests.acks import conftest as acks_fixtures
from tests.conftest import T0

story = acks_fixtures.story  # the acks tests' cast: Tapai, Ptu, Other and their users


def _home(login, user):
    return login(user).get("/").get_data(as_text=True)


def test_customer_sees_their_change_and_that_it_awaits_acknowledgement(story, login):
    story.change.ack_required = True
    db.session.commit()
    page = _home(login, story.tapai_user)
    assert story.change.title in page
    assert "acknowledgement requested" in page


def test_acknowledged_change_is_no_longer_flagged(story, login):
    story.change.ack_required = True
    acknowledge(story.change, story.tapai.id, now=T0, channel=CHANNEL_PORTAL, user=story.tapai_user)
    db.session.commit()
    page = _home(login, story.tapai_user)
    assert story.change.title in page
    assert "acknowledgement requested" not in page


def test_another_tenants_change_is_not_listed(story, login):
    page = _home(login, story.other_user)
    assert story.change.title not in page
    assert "Nothing scheduled" in page


def test_engineer_sees_their_teams_change(story, login):
    page = _home(login, story.engineer)
    assert story.change.title in page


def test_home_says_what_needs_attention_per_role(
    app, login, make_team, make_service, make_tenant, make_usage, make_user, clock
):
    """Issue #16 item 4: each role's next actions, counted, with where to act."""
    import datetime as dt

    from flask import g

    from portal.acks.services import object_to
    from portal.changes.services import publish
    from tests.factories import make_change

    team = make_team("vision", "Vision")
    service = make_service(team, "ocr", "Document OCR")
    tapai = make_tenant("tapai", "Tapai")
    make_usage(tapai, service)
    erin = make_user("erin@provider.example", teams=[team])
    manager = make_user("am@provider.example", is_account_manager=True, manages=[tapai])
    customer = make_user("lin@tapai.example", tenant=tapai)
    make_change(
        services=[service],
        author=erin,
        title="A draft",
        starts_at=clock.now() + dt.timedelta(days=20),
    )
    live = make_change(
        services=[service],
        author=erin,
        title="Soon",
        starts_at=clock.now() + dt.timedelta(days=5),
        ack_required=True,
    )
    publish(live, actor=erin, now=clock.now())
    object_to(live, tapai.id, user=customer, reason="Our launch week", now=clock.now())
    db.session.commit()

    def home(user):
        g.pop("_login_user", None)  # one ``g`` per test: forget the previous user
        return login(user).get("/").get_data(as_text=True)

    page = home(erin)
    assert "Needs your attention" in page
    assert "of your drafts are not published yet" in page
    assert "changes have objections to answer" in page
    clock.advance(hours=5 * 24 + 1)  # past the start, not started
    page = home(erin)
    assert "scheduled changes are overdue" in page

    from portal.notify.models import FAILED, OutboxMessage

    db.session.execute(
        OutboxMessage.__table__.update()
        .where(OutboxMessage.change_id == live.id, OutboxMessage.tenant_id == tapai.id)
        .values(status=FAILED)
    )
    db.session.commit()
    page = home(manager)
    assert "1</span> tenants have a failed notice for a scheduled change" in page
    assert "objections from your tenants are open" in page
    assert "told tenants have not acknowledged" not in page  # Tapai was never told
    clock.advance(hours=-2)  # back before the start: the change is still upcoming
    page = home(customer)
    assert "Needs your action" in page and "Soon" in page and "Acknowledge</span>" in page
