"""A notice carries an acknowledge link exactly when the acknowledgements service takes
acknowledgements (issue #19 item 2: the notice asks ``acks.services``, it does not restate the
rule). The case that tells: a tenant whose first notice contact arrives after a partial start
gets its notice while the change is in progress, when acknowledgements are still taken."""

from __future__ import annotations

import re

import pytest

from portal.acks import services as ack_services
from portal.acks.models import Acknowledgement
from portal.changes import lifecycle
from portal.changes.models import SCHEDULED
from portal.changes.services import publish
from portal.extensions import db
from portal.tenants.services import add_contact

LINK = re.compile(r"http://portal\.test(/ack/[A-Za-z0-9_.-]+)")


@pytest.fixture
def started_without_silent(world, dispatch, clock, make_tenant, make_usage):
    """The world's change, published and partially started; "Silent Co" had no notice contact
    until an hour after the start, and its notice has just been sent."""
    w = world
    silent = make_tenant("silent", "Silent Co", contacts=0)
    make_usage(silent, w.service)
    db.session.commit()
    publish(w.change, actor=w.engineer, now=clock.now())
    db.session.commit()
    dispatch()
    clock.set(w.change.starts_at)
    lifecycle.start(w.change, actor=w.engineer, now=clock.now(), only_open=True)
    db.session.commit()
    clock.advance(hours=1)
    add_contact(silent, email="first@silent.example", actor=w.manager, now=clock.now())
    db.session.commit()
    w.silent = silent
    return w


def _late_notice_text(sink):
    (mail,) = [m for m in sink.to("first@silent.example") if "Started" not in m["Subject"]]
    return mail.get_body(("plain",)).get_content()


def test_a_notice_sent_while_in_progress_carries_a_link_that_acknowledges(
    started_without_silent, dispatch, sink, client
):
    w = started_without_silent
    assert w.change.status == "in_progress"
    dispatch()
    links = LINK.findall(_late_notice_text(sink))
    assert len(links) == 1
    page = client.get(links[0])
    assert page.status_code == 200
    done = client.post(links[0])  # the tests run without CSRF (tests/conftest.py)
    assert done.status_code == 200
    acks = db.session.query(Acknowledgement).filter_by(tenant_id=w.silent.id).all()
    assert [(a.change_id, a.counts) for a in acks] == [(w.change.id, True)]


def test_the_link_follows_the_services_rule(started_without_silent, dispatch, sink, monkeypatch):
    monkeypatch.setattr(ack_services, "ACKNOWLEDGEABLE", (SCHEDULED,))
    dispatch()
    text = _late_notice_text(sink)
    assert LINK.findall(text) == []
    assert "/ack/" not in text
