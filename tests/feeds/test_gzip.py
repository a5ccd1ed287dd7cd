"""Feeds in the gzip content-coding (RFC 9110 §8.4, RFC 1952): readers that accept gzip get a
tenth of the bytes; the content, its validators and the fetch evidence are the same."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.feeds.models import FeedBody, FeedReceipt
from tests.conftest import T0
from tests.feeds.conftest import feed_url

FORMATS = ("rss", "atom", "ics")
GZIP = {"Accept-Encoding": "gzip, deflate"}


def _receipts() -> int:
    return db.session.execute(select(func.count()).select_from(FeedReceipt)).scalar_one()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_reader_that_accepts_gzip_gets_the_same_content_compressed(world, client, clock, fmt):
    world.published(at=T0)
    _token, secret = world.token()
    clock.advance(minutes=1)
    plain = client.get(feed_url(secret, fmt))
    packed = client.get(feed_url(secret, fmt), headers=GZIP)
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in plain.vary and "Accept-Encoding" in packed.vary
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data)
    assert packed.headers["Content-Type"] == plain.headers["Content-Type"]
    # The same opaque tag, weak for the coded representation (RFC 9110 §8.8.3).
    assert packed.headers["ETag"] == "W/" + plain.headers["ETag"]
    assert packed.headers["Last-Modified"] == plain.headers["Last-Modified"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_either_validator_gets_a_304_in_either_coding_until_the_content_changes(
    world, client, clock, fmt
):
    change = world.published(at=T0)
    _token, secret = world.token()
    clock.advance(minutes=1)
    tags = [
        client.get(feed_url(secret, fmt)).headers["ETag"],
        client.get(feed_url(secret, fmt), headers=GZIP).headers["ETag"],
    ]
    for tag in tags:
        for headers in ({}, GZIP):
            again = client.get(feed_url(secret, fmt), headers={**headers, "If-None-Match": tag})
            assert again.status_code == 304, (tag, headers)
    clock.advance(minutes=1)
    world.revise_to(change, title="Upgrade the fusion model to v6", at=clock.now())
    for tag in tags:
        changed = client.get(feed_url(secret, fmt), headers={**GZIP, "If-None-Match": tag})
        assert changed.status_code == 200
        assert b"v6" in gzip.decompress(changed.data)


@pytest.mark.parametrize(
    ("accept", "coded"),
    [
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("*", True),
        ("br, gzip;q=0.1", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*;q=0", False),
        ("deflate", False),
        ("x" * 3000, False),
        (";;;,,,q=", False),
    ],
)
def test_the_coding_follows_accept_encoding(world, client, clock, accept, coded):
    world.published(at=T0)
    _token, secret = world.token()
    answer = client.get(feed_url(secret, "rss"), headers={"Accept-Encoding": accept})
    assert answer.status_code == 200
    assert (answer.headers.get("Content-Encoding") == "gzip") is coded
    body = gzip.decompress(answer.data) if coded else answer.data
    assert body.startswith(b"<?xml")


def test_a_gzip_fetch_is_recorded_as_a_fetch_and_a_head_is_not(world, client, clock):
    world.published(at=T0)
    _token, secret = world.token()
    clock.advance(minutes=1)
    head = client.head(feed_url(secret, "atom"), headers=GZIP)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Encoding"] == "gzip"
    assert _receipts() == 0
    client.get(feed_url(secret, "atom"), headers=GZIP)
    assert _receipts() == 1


def test_the_stored_gzip_body_is_rebuilt_with_the_text(world, client, clock):
    """Both forms of a stored body move together: a revision never leaves a reader that
    accepts gzip with the old content while plain readers get the new."""
    change = world.published(at=T0)
    _token, secret = world.token()
    client.get(feed_url(secret, "rss"))
    clock.advance(minutes=1)
    world.revise_to(change, title="A new title for gzip readers", at=clock.now())
    packed = client.get(feed_url(secret, "rss"), headers=GZIP)
    assert b"A new title for gzip readers" in gzip.decompress(packed.data)
    plain = client.get(feed_url(secret, "rss"))
    assert plain.data == gzip.decompress(packed.data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_feeds_are_coded_too_and_vary_on_accept_encoding(world, client, clock, fmt):
    """A shared cache keeps a public feed (Cache-Control: public): Vary tells it to key the
    copy on Accept-Encoding, so a plain reader never gets gzip bytes it did not ask for."""
    world.published("A public maintenance", visibility="public")
    url = f"/public/services/{world.service.slug}/changes.{fmt}"
    plain = client.get(url)
    packed = client.get(url, headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert "Accept-Encoding" in packed.vary and "Accept-Encoding" in plain.vary
    assert plain.headers["Cache-Control"].startswith("public")
    tag = packed.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304


def _truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


@pytest.mark.parametrize(
    ("headers", "damage"),
    [
        ({}, b"not gzip at all"),
        ({}, b""),
        ({}, _truncated),  # the plain path inflates, so it checks the whole stream
        (GZIP, b"not gzip at all"),
        (GZIP, b""),  # gzip readers' bytes are checked by their magic number only
    ],
    ids=["plain-garbage", "plain-empty", "plain-truncated", "gzip-garbage", "gzip-empty"],
)
def test_a_damaged_stored_body_is_rebuilt_not_a_500(world, client, clock, headers, damage):
    """The stored bodies are a cache of what the builders make: a row damaged by hand (or a
    disk) is rebuilt and stored again; readers get the right feed either way."""
    world.published(at=T0)
    _token, secret = world.token()
    clock.advance(minutes=1)
    expected = client.get(feed_url(secret, "rss")).data
    good = db.session.execute(select(FeedBody.body_gzip)).scalar_one()
    db.session.execute(
        update(FeedBody).values(body_gzip=damage(good) if callable(damage) else damage)
    )
    db.session.commit()
    answer = client.get(feed_url(secret, "rss"), headers=headers)
    assert answer.status_code == 200
    assert (gzip.decompress(answer.data) if headers else answer.data) == expected
    db.session.expire_all()
    stored = db.session.execute(select(FeedBody.body_gzip)).scalar_one()
    assert gzip.decompress(stored) == expected
