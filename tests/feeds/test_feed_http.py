"""HTTP behaviour of the feeds: validators, 304s, headers, bad input, and fetch receipts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.feeds.tokens import hash_secret, revoke_feed_token
from portal.ledger.models import LedgerEntry
from portal.ledger.services import verify
from tests.conftest import T0
from tests.feeds.conftest import feed_url

TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}


@pytest.mark.parametrize("fmt", ["rss", "atom", "ics"])
def test_every_feed_has_validators_type_and_private_caching(world, client, fmt):
    world.published(at=T0)
    _, secret = world.token()
    response = client.get(feed_url(secret, fmt))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == TYPES[fmt]
    assert response.headers["ETag"].startswith('"') and response.headers["Last-Modified"]
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert secret.encode() not in response.data  # stored bodies are shared by the tenant's tokens


@pytest.mark.parametrize("fmt", ["rss", "atom", "ics"])
def test_conditional_requests_answer_304_until_the_content_changes(world, client, clock, fmt):
    change = world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=1)
    first = client.get(feed_url(secret, fmt))
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = client.get(feed_url(secret, fmt), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    since = client.get(feed_url(secret, fmt), headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    world.reschedule(change, days=12, at=T0 + dt.timedelta(hours=1))
    changed = client.get(
        feed_url(secret, fmt), headers={"If-None-Match": etag, "If-Modified-Since": modified}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    "header", ["garbage", '"', "W/", '*,,,"x', "\x00\xff" * 3, "a" * 5000, '"rss-0000", W/"nope"']
)
def test_garbage_if_none_match_gets_a_full_answer(world, client, header):
    _, secret = world.token()
    response = client.get(
        feed_url(secret, "rss"), headers={"If-None-Match": header, "If-Modified-Since": "yesterday"}
    )
    assert response.status_code == 200 and response.data.startswith(b"<?xml")


def test_query_junk_is_ignored(world, client):
    world.published(at=T0)
    _, secret = world.token()
    url = feed_url(secret, "atom") + "?format=ics&token=%00%ff&x=<script>&x=2&&=&%zz"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == TYPES["atom"]


def _not_found(client, url):
    response = client.get(url)
    assert response.status_code == 404
    return response.data


def test_unknown_revoked_and_malformed_tokens_are_the_same_bare_404(world, client):
    token, secret = world.token()
    unknown = "A" * 32
    bodies = {
        _not_found(client, feed_url(unknown, "rss")),
        _not_found(client, feed_url(secret[:-1], "rss")),  # too short
        _not_found(client, feed_url(secret + "x", "rss")),  # too long
        _not_found(client, feed_url(secret[:-1] + "!", "rss")),  # outside the alphabet
        _not_found(client, feed_url(secret[:-1] + "%C3%A9", "rss")),
        _not_found(client, feed_url("", "rss").replace("//", "/")),
    }
    revoke_feed_token(world.tapai, token.id, actor=world.engineer, now=T0)
    db.session.commit()
    bodies.add(_not_found(client, feed_url(secret, "rss")))
    assert len(bodies) == 1 and b"Tapai" not in bodies.pop()
    assert _not_found(client, feed_url(A := "B" * 32, "xml")) and A


def test_unknown_format_and_service_are_404(world, client):
    _, secret = world.token()
    assert client.get(feed_url(secret, "json")).status_code == 404
    assert client.get("/public/services/nope/changes.rss").status_code == 404
    assert client.get("/public/services/face-fusion-api/changes.txt").status_code == 404
    assert client.get("/public/services/" + "x" * 3000 + "/changes.rss").status_code == 404


def test_tokens_are_stored_hashed_with_192_random_bits(world):
    token, secret = world.token()
    assert len(secret) == 32 and token.token_hash == hash_secret(secret)
    stored = db.session.execute(select(FeedToken.token_hash, FeedToken.prefix)).all()
    assert all(secret not in (h, p) for h, p in stored)
    _, second = world.token(name="Calendar")
    assert second != secret


def _receipts():
    return db.session.execute(select(FeedReceipt).order_by(FeedReceipt.id)).scalars().all()


def test_fetches_leave_one_receipt_per_distinct_content_in_the_ledger(world, client, clock):
    change = world.published(at=T0)
    token, secret = world.token()
    token_id = token.id
    ledger_before = db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar()
    headers = {"User-Agent": "Thunderbird/128\x07"}
    client.get(feed_url(secret, "rss"), headers=headers)
    clock.advance(minutes=10)
    etag = client.get(feed_url(secret, "atom"), headers=headers).headers["ETag"]
    client.get(feed_url(secret, "atom"), headers={**headers, "If-None-Match": etag})
    # Same content and format again within FEED_RECEIPT_TOUCH_SECONDS: nothing is written.
    [receipt] = _receipts()
    assert receipt.fetch_count == 2 and receipt.formats == "atom,rss"
    assert receipt.user_agent == "Thunderbird/128"
    assert receipt.first_fetched_at == T0 and receipt.last_fetched_at == T0 + dt.timedelta(
        minutes=10
    )
    assert receipt.revision_pairs() == [(change.id, 1)]
    world.reschedule(change, days=12, at=T0 + dt.timedelta(hours=1))
    client.get(feed_url(secret, "ics"), headers=headers)
    receipts = _receipts()
    assert [r.revision_pairs() for r in receipts] == [[(change.id, 1)], [(change.id, 2)]]
    entries = (
        db.session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.action == "feed.fetched")
            .order_by(LedgerEntry.seq)
        )
        .scalars()
        .all()
    )
    assert [e.seq for e in entries] == [r.ledger_seq for r in receipts]
    assert all(e.tenant_id == world.tapai.id for e in entries)
    assert (
        db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar() > ledger_before
    )
    assert verify().ok
    assert db.session.get(FeedToken, token_id).last_used_at is not None


def test_public_feeds_write_no_receipt_and_are_publicly_cacheable(world, client):
    world.published("Public", visibility="public", at=T0)
    response = client.get("/public/services/face-fusion-api/changes.rss")
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    etag = response.headers["ETag"]
    assert (
        client.get(
            "/public/services/face-fusion-api/changes.rss", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )
    assert _receipts() == []


@pytest.mark.parametrize("fmt", ["rss", "atom", "ics"])
def test_bodies_are_built_once_per_content_and_served_from_storage(world, client, monkeypatch, fmt):
    from portal.feeds import builders
    from portal.feeds.models import FeedBody

    change = world.published(at=T0)
    _, secret = world.token()
    first = client.get(feed_url(secret, fmt))
    stored = db.session.execute(select(FeedBody)).scalar_one()
    assert (stored.format, stored.etag) == (fmt, first.headers["ETag"])
    assert stored.body.encode() == first.data  # kept as text, served as the same bytes
    db.session.rollback()

    def no_building(*args, **kwargs):
        raise AssertionError("the stored body should have been served")

    monkeypatch.setattr(builders, "build", no_building)
    again = client.get(feed_url(secret, fmt))
    monkeypatch.undo()
    assert again.status_code == 200 and again.data == first.data

    world.reschedule(change, days=12, at=T0 + dt.timedelta(hours=1))
    changed = client.get(feed_url(secret, fmt))
    assert changed.headers["ETag"] != first.headers["ETag"] and changed.data != first.data
    rows = db.session.execute(select(FeedBody).where(FeedBody.format == fmt)).scalars().all()
    assert {r.etag for r in rows if r.scope.startswith("tenant:")} == {changed.headers["ETag"]}
