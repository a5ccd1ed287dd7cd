"""Nothing upcoming is dropped (issue #14 item 1).

Every change that has not ended (scheduled, in progress) is in every format, however many
changes the tenant has and however long ago it was last updated; the entry cap applies to
ended changes only (completed, cancelled), the most recently updated kept. The public page
paginates instead of cutting the list.
"""

from __future__ import annotations

import datetime as dt
import json

import feedparser
import icalendar
import pytest
from sqlalchemy import select

from portal.changes import lifecycle
from portal.extensions import db
from portal.feeds.models import FeedReceipt
from tests.changes.helpers import deliver
from tests.conftest import T0
from tests.feeds.conftest import DAY, feed_url

HOUR = dt.timedelta(hours=1)
CAP = 3


@pytest.fixture
def crowded(world, app):
    """A cap of 3, and more changes than that: one upcoming change published (and last
    updated) long before everything else, one in progress, then five cancelled and a fresh
    upcoming one."""
    app.config["FEED_MAX_ENTRIES"] = CAP
    old = world.published("Old but upcoming", visibility="public", days=60, at=T0)
    running = world.published("Running now", visibility="public", days=2, at=T0 + HOUR)
    deliver(running, T0 + HOUR)
    lifecycle.start(running, actor=world.engineer, now=T0 + 2 * DAY + HOUR)
    db.session.commit()
    cancelled = []
    for i in range(5):
        change = world.published(f"Cancelled {i}", visibility="public", at=T0 + 2 * DAY)
        world.cancel(change, at=T0 + 2 * DAY + i * HOUR)
        cancelled.append(change)
    fresh = world.published("Fresh", visibility="public", days=20, at=T0 + 3 * DAY)
    return old, running, cancelled, fresh


EXPECTED = {
    "Old but upcoming",
    "Running now",
    "Fresh",
    # Of the five ended changes, the three most recently updated.
    "Cancelled 4",
    "Cancelled 3",
    "Cancelled 2",
}


def _title(text: str) -> str:
    return text.split("] ", 1)[1].rsplit(" (", 1)[0]


def _feed_titles(body: bytes) -> set[str]:
    feed = feedparser.parse(body)
    assert feed.bozo == 0, feed.get("bozo_exception")
    return {_title(e.title) for e in feed.entries}


def _calendar_titles(body: bytes) -> set[str]:
    cal = icalendar.Calendar.from_ical(body)
    return {_title(str(e["summary"])) for e in cal.walk("VEVENT")}


@pytest.mark.parametrize("fmt", ["rss", "atom", "ics"])
def test_upcoming_changes_are_never_capped_in_a_tenants_feed(world, crowded, client, fmt):
    _, secret = world.token()
    body = client.get(feed_url(secret, fmt)).data
    shown = _calendar_titles(body) if fmt == "ics" else _feed_titles(body)
    assert shown == EXPECTED


@pytest.mark.parametrize("fmt", ["rss", "atom", "ics"])
def test_upcoming_changes_are_never_capped_in_a_public_feed(world, crowded, client, fmt):
    body = client.get(f"/public/services/face-fusion-api/changes.{fmt}").data
    shown = _calendar_titles(body) if fmt == "ics" else _feed_titles(body)
    assert shown == EXPECTED


def test_the_receipt_lists_every_upcoming_change_it_delivered(world, crowded, client):
    old, running, _, fresh = crowded
    _, secret = world.token()
    client.get(feed_url(secret, "ics"))
    receipt = db.session.execute(select(FeedReceipt)).scalar_one()
    delivered = {c for c, _ in json.loads(receipt.revisions)}
    assert {old.id, running.id, fresh.id} <= delivered and len(delivered) == len(EXPECTED)


def test_ended_changes_beyond_the_cap_drop_out_oldest_first(world, app, client):
    app.config["FEED_MAX_ENTRIES"] = 1
    first = world.published("First", at=T0)
    second = world.published("Second", at=T0)
    world.cancel(second, at=T0 + HOUR)
    world.cancel(first, at=T0 + 2 * HOUR)  # updated last: the one kept
    _, secret = world.token()
    assert _feed_titles(client.get(feed_url(secret, "rss")).data) == {"First"}


def test_the_public_page_paginates_every_upcoming_public_change(world, app, client):
    app.config["PAGE_SIZE"] = 2
    for i in range(5):
        world.published(f"Public {i}", visibility="public", days=10 + i, at=T0)
    seen = []
    for page in (1, 2, 3):
        response = client.get(f"/public/changes?page={page}")
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        seen += [f"Public {i}" for i in range(5) if f">Public {i}<" in text]
        assert f"page {page} of 3" in text
    assert seen == [f"Public {i}" for i in range(5)]  # soonest first, none dropped
    assert "next" in client.get("/public/changes").get_data(as_text=True)
    assert client.get("/public/changes?page=4").status_code == 404
    for bad in ("0", "-1", "x", "1.5", "9" * 30, "%00", "１"):
        assert client.get(f"/public/changes?page={bad}").status_code == 400, bad
