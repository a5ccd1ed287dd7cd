"""What the tenant and public feeds contain, parsed by feedparser and icalendar."""

from __future__ import annotations

import datetime as dt

import feedparser
import icalendar

from tests.conftest import T0
from tests.feeds.conftest import DAY, feed_url

HOUR = dt.timedelta(hours=1)


def fetch(client, secret, fmt):
    response = client.get(feed_url(secret, fmt))
    assert response.status_code == 200, response.data[:300]
    return response


def parsed(client, secret, fmt):
    feed = feedparser.parse(fetch(client, secret, fmt).data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def calendar(client, secret):
    body = fetch(client, secret, "ics").data
    cal = icalendar.Calendar.from_ical(body)
    assert cal.to_ical() == body  # round trip
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def test_rss_and_atom_list_published_changes_with_ids_dates_and_status(world, client):
    change = world.published("Upgrade the fusion model", at=T0)
    _, secret = world.token()
    for fmt, version in (("rss", "rss20"), ("atom", "atom10")):
        feed = parsed(client, secret, fmt)
        assert feed.version == version
        assert feed.feed.title == "Changes affecting Tapai"
        [entry] = feed.entries
        assert entry.id == f"http://portal.test/changes/{change.id}"
        assert entry.link == f"http://portal.test/changes/{change.id}"
        assert entry.title == "[Scheduled] Upgrade the fusion model (maintenance)"
        terms = {t.term for t in entry.tags}  # RSS carries the labels, Atom terms and labels
        expected = (
            {"Scheduled", "maintenance", "Face Fusion API"}
            if fmt == "rss"
            else {"scheduled", "maintenance", "face-fusion-api"}
        )
        assert expected <= terms
        html = entry.content[0].value if fmt == "atom" else entry.summary
        assert "<strong>resolution</strong>" in html and "Face Fusion API" in html
        assert "Thu 12 Nov 2026 09:00 UTC" in html  # the current schedule
        assert entry.published_parsed[:6] == T0.timetuple()[:6]
        assert entry.updated_parsed[:6] == T0.timetuple()[:6]


def test_icalendar_has_one_event_per_change_in_utc(world, client):
    change = world.published(at=T0)
    _, secret = world.token()
    events = calendar(client, secret)
    event = events[f"change-{change.id}@portal.test"]
    assert event.decoded("dtstart") == T0 + 10 * DAY
    assert event.decoded("dtend") == T0 + 10 * DAY + 2 * HOUR
    assert event.decoded("dtstart").utcoffset() == dt.timedelta(0)
    assert event["sequence"] == 0  # the first revision (RFC 5545 §3.8.7.4)
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["url"]) == f"http://portal.test/changes/{change.id}"
    assert "Upgrade the fusion model" in str(event["summary"])
    assert "resolution" in str(event["description"])


def test_a_revision_updates_the_entry_and_bumps_sequence(world, client):
    change = world.published(at=T0)
    _, secret = world.token()
    before = parsed(client, secret, "atom").entries[0]
    world.reschedule(change, days=12, at=T0 + 2 * HOUR)
    for fmt in ("rss", "atom"):
        [after] = parsed(client, secret, fmt).entries
        assert after.id == before.id
        assert after.title.startswith("[Rescheduled]")
        assert {"rescheduled", "Rescheduled"} & {t.term for t in after.tags}
        assert after.updated_parsed[:6] == (T0 + 2 * HOUR).timetuple()[:6]
        assert "Sat 14 Nov 2026 09:00 UTC" in (after.get("content") or [after])[0].get(
            "value", after.get("summary")
        )
    [event] = calendar(client, secret).values()
    assert event["sequence"] == 1
    assert event.decoded("dtstart") == T0 + 12 * DAY


def test_a_cancellation_shows_in_all_three_feeds(world, client):
    change = world.published(at=T0)
    _, secret = world.token()
    world.cancel(change, at=T0 + HOUR)
    for fmt in ("rss", "atom"):
        [entry] = parsed(client, secret, fmt).entries
        assert entry.title.startswith("[Cancelled]")
        assert {"cancelled", "Cancelled"} & {t.term for t in entry.tags}
    [event] = calendar(client, secret).values()
    assert str(event["status"]) == "CANCELLED"
    assert event["sequence"] == 1


def test_drafts_and_other_tenants_changes_never_appear(
    world, client, make_team, make_service, make_usage, make_change
):
    shown = world.published("Shown to Tapai", at=T0)
    world.draft("A draft nobody may see")
    withdrawn = world.draft("A draft withdrawn before publication")
    world.cancel(withdrawn, at=T0)
    # A change to a service only Other uses.
    team = make_team()
    private_service = make_service(team, "other-only")
    make_usage(world.other, private_service)
    from portal.changes.services import publish
    from tests.factories import make_user

    eng = make_user(teams=[team])
    other_change = make_change(
        services=[private_service],
        author=eng,
        title="Other's change",
        impact="maintenance",
        starts_at=T0 + 10 * DAY,
    )
    publish(other_change, actor=eng, now=T0)
    _, secret = world.token()
    for fmt in ("rss", "atom"):
        titles = [e.title for e in parsed(client, secret, fmt).entries]
        assert titles == ["[Scheduled] Shown to Tapai (maintenance)"]
    assert [str(e["url"]) for e in calendar(client, secret).values()] == [
        f"http://portal.test/changes/{shown.id}"
    ]
    _, lonely_secret = world.token(world.lonely)
    assert parsed(client, lonely_secret, "atom").entries == []


def test_entries_come_most_recently_updated_first(world, client):
    for i in range(3):
        world.published(f"Change {i}", at=T0 + i * HOUR)
    _, secret = world.token()
    titles = [e.title for e in parsed(client, secret, "rss").entries]
    assert titles == [f"[Scheduled] Change {i} (maintenance)" for i in (2, 1, 0)]


def test_public_service_feed_carries_public_changes_only(world, client):
    public = world.published("Public maintenance", visibility="public", at=T0)
    world.published("Customers only", at=T0)
    world.draft("Public draft", visibility="public")
    for fmt in ("rss", "atom"):
        response = client.get(f"/public/services/face-fusion-api/changes.{fmt}")
        feed = feedparser.parse(response.data)
        assert feed.bozo == 0
        assert [e.title for e in feed.entries] == ["[Scheduled] Public maintenance (maintenance)"]
        assert any(
            link.rel == "self"
            and link.href.endswith(f"/public/services/face-fusion-api/changes.{fmt}")
            for link in feed.feed.links
        )
    cal = icalendar.Calendar.from_ical(
        client.get("/public/services/face-fusion-api/changes.ics").data
    )
    assert [str(e["uid"]) for e in cal.walk("VEVENT")] == [f"change-{public.id}@portal.test"]


def test_public_page_lists_upcoming_public_changes_without_login(world, client):
    world.published("Public maintenance", visibility="public", at=T0)
    world.published("Customers only", at=T0)
    page = client.get("/public/changes")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Public maintenance" in text and "Customers only" not in text
    assert "/public/services/face-fusion-api/changes.atom" in text
    assert "/public/services/face-fusion-api/changes.ics" in text
