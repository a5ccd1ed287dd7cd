"""The demo's time-travel control moves the shared clock; production has none."""

import datetime as dt

from portal.clock import SystemClock
from portal.extensions import db


def test_time_travel_is_absent_outside_demo(login, make_user):
    r = login(make_user()).post("/demo/time-travel", data={"step": "1d"})
    assert r.status_code == 404


def test_time_travel_moves_the_demo_clock(app, login, make_user):
    app.config["DEMO"] = True
    app.extensions["forewarn.clock"] = SystemClock(travel=True)
    client = login(make_user())
    before = app.extensions["forewarn.clock"].now()
    r = client.post("/demo/time-travel", data={"step": "1d"})
    assert r.status_code == 302
    after = app.extensions["forewarn.clock"].now()
    assert dt.timedelta(hours=23, minutes=59) < after - before < dt.timedelta(days=1, minutes=1)


def test_time_travel_refuses_unknown_steps(app, login, make_user):
    app.config["DEMO"] = True
    app.extensions["forewarn.clock"] = SystemClock(travel=True)
    r = login(make_user()).post("/demo/time-travel", data={"step": "100y"})
    assert r.status_code == 400


def test_production_clock_cannot_travel(app):
    clock = SystemClock(travel=False)
    try:
        clock.travel_by(dt.timedelta(days=1))
    except RuntimeError:
        db.session.rollback()
    else:
        raise AssertionError("production clock moved")
