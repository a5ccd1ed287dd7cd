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
