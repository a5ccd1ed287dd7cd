"""The equal-notice report: spread, first-party against third-party times, and the flag."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.extensions import db
from tests.conftest import T0
from tests.desk.conftest import deliver, fail

MIN = dt.timedelta(minutes=1)


def test_first_party_told_last_is_not_flagged(client, login, world, admin_user):
    w = world
    deliver(w.change, w.tapai, T0 + 1 * MIN)
    deliver(w.change, w.other, T0 + 2 * MIN)
    deliver(w.change, w.evil, T0 + 4 * MIN)
    deliver(w.change, w.ptu, T0 + 10 * MIN)
    db.session.commit()
    data = login(admin_user).get(f"/certificates/{w.change.id}/equal-notice.json").get_json()
    assert data["first_party_told_earlier"] is False
    rev = data["revisions"][0]
    assert rev["revision"] == 1
    assert rev["first_notice_at"] == (T0 + 1 * MIN).isoformat()
    assert rev["last_notice_at"] == (T0 + 10 * MIN).isoformat()
    assert rev["spread_seconds"] == 9 * 60
    assert rev["first_party"]["delivered"] == 1
    assert rev["first_party"]["first_at"] == (T0 + 10 * MIN).isoformat()
    assert rev["third_party"]["last_at"] == (T0 + 4 * MIN).isoformat()
    assert rev["example"] is None
    body = client.get(f"/certificates/{w.change.id}/equal-notice").get_data(as_text=True)
    assert "No first-party tenant was told before any third-party tenant" in body


def test_first_party_told_earlier_is_flagged(client, login, world, admin_user):
    w = world
    deliver(w.change, w.ptu, T0 + 1 * MIN)
    deliver(w.change, w.tapai, T0 + 2 * MIN)
    deliver(w.change, w.other, T0 + 5 * MIN)
    db.session.commit()
    data = login(admin_user).get(f"/certificates/{w.change.id}/equal-notice.json").get_json()
    assert data["first_party_told_earlier"] is True
    rev = data["revisions"][0]
    assert rev["example"]["first_party"]["tenant"] == "ptu"
    assert rev["example"]["third_party"]["tenant"] == "other"
    body = client.get(f"/certificates/{w.change.id}/equal-notice").get_data(as_text=True)
    assert "FLAG: a first-party tenant was told before a third-party tenant" in body


def test_undelivered_third_party_tenants_are_listed(client, login, world, admin_user):
    w = world
    fail(w.change, w.evil)
    deliver(w.change, w.tapai, T0 + MIN)
    db.session.commit()
    rev = (
        login(admin_user)
        .get(f"/certificates/{w.change.id}/equal-notice.json")
        .get_json()["revisions"][0]
    )
    assert set(rev["undelivered_third_party"]) == {"evil", "other"}
    assert rev["third_party"]["tenants"] == 3 and rev["third_party"]["delivered"] == 1


@pytest.mark.parametrize(
    "who,status",
    [
        ("admin_user", 200),
        ("engineer", 200),
        ("am", 200),
        ("other_am", 200),
        ("outsider_engineer", 404),
        ("tapai_user", 404),
        ("ptu_user", 404),
    ],
)
def test_report_is_for_provider_staff_only(client, login, world, admin_user, who, status):
    user = admin_user if who == "admin_user" else getattr(world, who)
    assert login(user).get(f"/certificates/{world.change.id}/equal-notice").status_code == status


def test_unknown_change_is_404(client, login, admin_user):
    assert login(admin_user).get("/certificates/424242/equal-notice.json").status_code == 404
