"""Conditional requests are exact, and HEAD is not a fetch (issue #14 item 3).

HTTP dates have one-second resolution; feed content can change several times a second. A
reader sending only If-Modified-Since must never get a 304 for content it has not received,
and the ledger must never record a revision as fetched that the reader never got.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from werkzeug.http import http_date, parse_date

from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.ledger.models import LedgerEntry
from tests.conftest import T0
from tests.feeds.conftest import feed_url

MS = dt.timedelta(milliseconds=1)
FORMATS = ("rss", "atom", "ics")


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _fetched_revisions() -> list[list[list[int]]]:
    entries = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.action == "feed.fetched").order_by(LedgerEntry.seq)
    ).scalars()
    return [json.loads(e.payload)["revisions"] for e in entries]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("reader_date", ["last_modified", "date_of_fetch"])
def test_content_changed_within_the_second_of_the_last_fetch_is_never_a_304(
    world, client, clock, fmt, reader_date
):
    """The failing case, three times over: within one second the feed changes, is fetched,
    and changes again; the reader revalidates with If-Modified-Since only (the Last-Modified
    it received, or the time of its fetch)."""
    change = world.published(at=T0)
    _, secret = world.token()
    url = feed_url(secret, fmt)
    for attempt in range(3):
        base = T0 + dt.timedelta(minutes=1 + attempt)
        world.reschedule(change, days=20 + attempt, at=base + 100 * MS)
        clock.set(base + 300 * MS)
        first = client.get(url)
        assert first.status_code == 200
        since = first.headers["Last-Modified"] if reader_date == "last_modified" else None
        since = since or http_date(clock.now())
        assert parse_date(since) <= clock.now()  # never later than the response itself
        world.reschedule(change, days=11 + attempt, at=base + 700 * MS)
        clock.set(base + 900 * MS)
        again = client.get(url, headers={"If-Modified-Since": since})
        assert again.status_code == 200, f"attempt {attempt}: stale 304"
        assert again.headers["ETag"] != first.headers["ETag"]
    # Once the clock has passed the new content's Last-Modified, it is exact and revalidates.
    clock.advance(seconds=2)
    settled = client.get(url)
    assert (
        client.get(url, headers={"If-Modified-Since": settled.headers["Last-Modified"]}).status_code
        == 304
    )


def test_the_ledger_records_only_revisions_the_reader_received(world, client, clock):
    change = world.published(at=T0 + 100 * MS)
    _, secret = world.token()
    clock.set(T0 + 300 * MS)
    since = client.get(feed_url(secret, "rss")).headers["Last-Modified"]
    world.reschedule(change, days=12, at=T0 + 700 * MS)
    clock.set(T0 + 900 * MS)
    response = client.get(feed_url(secret, "rss"), headers={"If-Modified-Since": since})
    assert response.status_code == 200 and b"Sat 14 Nov 2026" in response.data
    assert _fetched_revisions() == [[[change.id, 1]], [[change.id, 2]]]


def test_last_modified_is_never_later_than_the_response(world, client, clock):
    world.published(at=T0 + 800 * MS)
    _, secret = world.token()
    clock.set(T0 + 900 * MS)  # the content's Last-Modified (T0 + 1 s) is still ahead
    response = client.get(feed_url(secret, "atom"))
    assert parse_date(response.headers["Last-Modified"]) == T0
    clock.set(T0 + dt.timedelta(seconds=5))
    response = client.get(feed_url(secret, "atom"))
    assert parse_date(response.headers["Last-Modified"]) == T0 + dt.timedelta(seconds=1)


def test_an_if_modified_since_in_the_future_gets_the_content(world, client, clock):
    world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=1)
    future = http_date(clock.now() + dt.timedelta(days=1))
    assert (
        client.get(feed_url(secret, "rss"), headers={"If-Modified-Since": future}).status_code
        == 200
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_head_answers_with_headers_only_and_records_no_fetch(world, client, clock, fmt):
    world.published(at=T0)
    token, secret = world.token()
    token_id = token.id
    ledger_before = _count(LedgerEntry)
    clock.advance(minutes=1)
    head = client.head(feed_url(secret, fmt))
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] and head.headers["Last-Modified"]
    assert head.headers["Cache-Control"] == "private, no-cache"
    conditional = client.head(
        feed_url(secret, fmt), headers={"If-None-Match": head.headers["ETag"]}
    )
    assert conditional.status_code == 304
    assert _count(FeedReceipt) == 0 and _count(LedgerEntry) == ledger_before
    assert db.session.get(FeedToken, token_id).last_used_at is None
    # The GET that follows is the fetch, with the same validators.
    get = client.get(feed_url(secret, fmt))
    assert get.headers["ETag"] == head.headers["ETag"]
    assert _count(FeedReceipt) == 1 and _count(LedgerEntry) == ledger_before + 1


def test_head_of_unknown_tokens_is_a_404(world, client):
    assert client.head(feed_url("A" * 32, "rss")).status_code == 404
