"""Feeds keep the standards, checked by parsers nobody here wrote (issue #14 item 4).

Atom names its author (RFC 4287 §4.1.1) and its own address only where that address is no
secret; calendars carry refresh hints (RFC 7986 §5.7, X-PUBLISHED-TTL), stay valid with no
events (RFC 5545 §3.4: at least one component) and start SEQUENCE at 0. Every format of every
case the issue names goes through feedparser (bozo 0), icalendar and vobject; newsboat reads
the same cases in ``test_newsboat.py``.
"""

from __future__ import annotations

import datetime as dt

import feedparser
import icalendar
import pytest
import vobject

from portal.changes import lifecycle
from portal.extensions import db
from tests.changes.helpers import deliver
from tests.conftest import T0
from tests.feeds.conftest import DAY, feed_url

HOUR = dt.timedelta(hours=1)


def build_cases(world, app) -> dict[str, tuple[str, dict[str, str], set[str]]]:
    """The issue's cases: (URL template, {uid: expected calendar status}, withdrawn uids that
    only calendars show):

    - ``tenant``: more changes than the cap (2): an upcoming change updated long ago, a
      rescheduled one, one in progress, three cancelled (two kept);
    - ``empty``: a tenant with no change at all;
    - ``public``: a service's public feed with a listed change and one made private;
    - ``left``: the public feed of a service a public change was retargeted off.
    """
    app.config["FEED_MAX_ENTRIES"] = 2
    old = world.published("Old but upcoming", visibility="public", days=60, at=T0)
    moved = world.published("Moved", visibility="public", at=T0 + HOUR)
    world.reschedule(moved, days=12, at=T0 + 2 * HOUR)
    running = world.published("Running", days=2, at=T0 + HOUR)
    deliver(running, T0 + HOUR)
    lifecycle.start(running, actor=world.engineer, now=T0 + 2 * DAY + HOUR)
    db.session.commit()
    dropped = [world.published(f"Dropped {i}", at=T0) for i in range(3)]
    for i, change in enumerate(dropped):
        world.cancel(change, at=T0 + (3 + i) * HOUR)
    hidden = world.published("Made private", visibility="public", at=T0)
    world.revise_to(hidden, visibility="affected", at=T0 + 3 * DAY)
    both = world.published(
        "Retargeted", visibility="public", services=[world.service, world.ocr], at=T0
    )
    world.revise_to(both, targets=((world.service.id, None),), at=T0 + 3 * DAY)
    _, tapai = world.token()
    _, lonely = world.token(world.lonely)

    def uid(change):
        return f"change-{change.id}@portal.test"

    return {
        "tenant": (
            feed_url(tapai, "{fmt}"),
            {
                uid(old): "CONFIRMED",
                uid(moved): "CONFIRMED",
                uid(running): "CONFIRMED",
                uid(hidden): "CONFIRMED",
                uid(both): "CONFIRMED",
                uid(dropped[2]): "CANCELLED",  # the two most recently updated ended ones
                uid(dropped[1]): "CANCELLED",
            },
            set(),
        ),
        "empty": (feed_url(lonely, "{fmt}"), {}, set()),
        "public": (
            "/public/services/face-fusion-api/changes.{fmt}",
            {
                uid(old): "CONFIRMED",
                uid(moved): "CONFIRMED",
                uid(both): "CONFIRMED",
                uid(hidden): "CANCELLED",
            },
            {uid(hidden)},
        ),
        "left": (
            "/public/services/document-ocr/changes.{fmt}",
            {uid(both): "CANCELLED"},
            {uid(both)},
        ),
    }


@pytest.fixture
def cases(world, app):
    return build_cases(world, app)


def _ical_events(body: bytes) -> dict[str, tuple[str, int]]:
    cal = icalendar.Calendar.from_ical(body)
    assert cal.to_ical() == body  # round trip
    assert cal.subcomponents, "RFC 5545 §3.4: a calendar holds at least one component"
    return {str(e["uid"]): (str(e["status"]), int(e["sequence"])) for e in cal.walk("VEVENT")}


def _vobject_events(body: bytes) -> dict[str, tuple[str, int]]:
    cal = vobject.readOne(body.decode(), validate=True)
    assert cal.name == "VCALENDAR" and cal.version.value == "2.0"
    return {
        e.uid.value: (e.status.value, int(e.sequence.value)) for e in cal.contents.get("vevent", [])
    }


@pytest.mark.parametrize("case", ["tenant", "empty", "public", "left"])
def test_every_format_of_every_case_parses_cleanly_in_independent_parsers(cases, client, case):
    template, expected, withdrawn = cases[case]
    feeds = {}
    for fmt in ("rss", "atom"):
        response = client.get(template.format(fmt=fmt))
        assert response.status_code == 200
        feed = feedparser.parse(response.data)
        assert feed.bozo == 0, feed.get("bozo_exception")
        assert feed.version == {"rss": "rss20", "atom": "atom10"}[fmt]
        feeds[fmt] = {e.id for e in feed.entries}
    assert feeds["rss"] == feeds["atom"]  # the formats agree
    body = client.get(template.format(fmt="ics")).data
    by_icalendar, by_vobject = _ical_events(body), _vobject_events(body)
    assert by_icalendar == by_vobject
    assert {uid: status for uid, (status, _) in by_icalendar.items()} == expected
    # RSS/Atom hold the changes still shown; calendars also the withdrawn ones, cancelled.
    assert len(feeds["rss"]) == len(expected) - len(withdrawn)


def test_atom_names_its_author_and_only_public_feeds_name_themselves(world, client):
    world.published("Public", visibility="public", at=T0)
    _, secret = world.token()
    public = feedparser.parse(client.get("/public/services/face-fusion-api/changes.atom").data)
    private = feedparser.parse(client.get(feed_url(secret, "atom")).data)
    for feed in (public, private):
        assert feed.feed.author_detail.name == "Forewarn"
        assert feed.feed.author_detail.email == "notices@forewarn.example"
    assert [link.href for link in public.feed.links if link.rel == "self"] == [
        "http://portal.test/public/services/face-fusion-api/changes.atom"
    ]
    assert not [link for link in private.feed.links if link.rel == "self"]
    rss = client.get(feed_url(secret, "rss")).data
    assert b'rel="self"' not in rss and secret.encode() not in rss


def test_calendars_carry_refresh_hints(world, app, client):
    app.config["FEED_CALENDAR_REFRESH_SECONDS"] = 2 * 3600
    _, secret = world.token()
    for url in (feed_url(secret, "ics"), "/public/services/face-fusion-api/changes.ics"):
        body = client.get(url).data
        assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT2H\r\n" in body
        assert b"\r\nX-PUBLISHED-TTL:PT2H\r\n" in body
        cal = vobject.readOne(body.decode())
        assert cal.contents["refresh-interval"][0].value == "PT2H"


def test_the_first_revision_is_sequence_zero(world, client):
    change = world.published(at=T0)
    _, secret = world.token()
    sequences = [_ical_events(client.get(feed_url(secret, "ics")).data)]
    world.reschedule(change, days=12, at=T0 + HOUR)
    sequences.append(_ical_events(client.get(feed_url(secret, "ics")).data))
    uid = f"change-{change.id}@portal.test"
    assert [s[uid][1] for s in sequences] == [0, 1]


def test_a_tenant_with_no_change_gets_a_valid_calendar(world, client):
    _, secret = world.token(world.lonely)
    body = client.get(feed_url(secret, "ics")).data
    assert _ical_events(body) == {} and _vobject_events(body) == {}
    assert b"BEGIN:VTIMEZONE\r\nTZID:UTC\r\n" in body
