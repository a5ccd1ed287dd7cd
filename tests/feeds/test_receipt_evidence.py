"""Fetch receipts as evidence, over long sequences and readers side by side: every new content a
token fetched has a receipt, unchanged content polled for hours writes nothing, and the 200s
(built or stored) and 304s agree on their validators. Cases a fresh reviewer tried on the
token's kept newest receipt (``FeedToken.latest_receipt_id``) and the binary reads."""

from __future__ import annotations

import datetime as dt
import gzip
import threading

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.feeds.tokens import revoke_feed_token, rotate_feed_token
from portal.ledger.models import LedgerEntry
from tests.conftest import T0
from tests.feeds.conftest import feed_url


def _receipts(token_id: int) -> list[FeedReceipt]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(FeedReceipt).where(FeedReceipt.token_id == token_id).order_by(FeedReceipt.id)
        )
    )


def _ledger_fetches() -> int:
    return db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == "feed.fetched")
    )


def _kept(token_id: int) -> int | None:
    db.session.expire_all()
    return db.session.get(FeedToken, token_id).latest_receipt_id


def _poll_at_once(app, secret: str, etag: str, readers: int) -> tuple[list[int], list[str]]:
    """``readers`` threads, each with its own client, fetch the feed at the same moment (half
    with the last ETag, formats in turn); their statuses and any errors."""
    barrier = threading.Barrier(readers)
    statuses: list[int] = []
    errors: list[str] = []

    def poll(i: int) -> None:
        try:
            with app.test_client() as reader:
                barrier.wait()
                headers = {"If-None-Match": etag} if i % 2 else {}
                fmt = ("rss", "atom", "ics")[i % 3]
                statuses.append(reader.get(feed_url(secret, fmt), headers=headers).status_code)
        except Exception as err:  # noqa: BLE001  (reported to the test)
            errors.append(repr(err))

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, errors


def test_every_new_content_has_a_receipt_and_hours_of_polling_write_nothing(
    world, client, clock, make_user
):
    change = world.published(at=T0)
    tok, secret = world.token()
    first = client.get(feed_url(secret, "rss"))
    etag = first.headers["ETag"]
    assert len(_receipts(tok.id)) == 1
    ledger = _ledger_fetches()
    # Two hours of polling in every format, with and without validators, gzip or not.
    for i in range(120):
        clock.advance(minutes=1)
        fmt = ("rss", "atom", "ics")[i % 3]
        headers = {"Accept-Encoding": "gzip"} if i % 2 else {}
        if fmt == "rss" and i % 4 == 0:
            headers["If-None-Match"] = etag
        client.get(feed_url(secret, fmt), headers=headers)
    assert len(_receipts(tok.id)) == 1
    assert _ledger_fetches() == ledger
    # A revision; a HEAD records nothing; If-Modified-Since alone with the old date: a 200.
    world.reschedule(change, days=11, at=clock.advance(minutes=1))
    assert client.head(feed_url(secret, "atom")).status_code == 200
    assert len(_receipts(tok.id)) == 1
    since = {"If-Modified-Since": first.headers["Last-Modified"]}
    assert client.get(feed_url(secret, "atom"), headers=since).status_code == 200
    assert len(_receipts(tok.id)) == 2
    # A cancellation; the calendar, gzip-coded, with the first ETag: a 200 and a receipt.
    world.cancel(change, at=clock.advance(minutes=1))
    calendar = client.get(
        feed_url(secret, "ics"), headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}
    )
    assert calendar.status_code == 200
    assert gzip.decompress(calendar.data).startswith(b"BEGIN:VCALENDAR")
    assert len(_receipts(tok.id)) == 3
    assert _ledger_fetches() == ledger + 2
    # Rotated: the new token's first fetch is its own receipt; the old URL is a 404.
    admin = make_user(tenant=world.tapai, is_tenant_admin=True)
    new, new_secret = rotate_feed_token(
        world.tapai, tok.id, actor=admin, now=clock.advance(minutes=1)
    )
    db.session.commit()
    assert client.get(feed_url(secret, "rss")).status_code == 404
    assert client.get(feed_url(new_secret, "rss")).status_code == 200
    assert [r.id for r in _receipts(new.id)] == [_kept(new.id)]
    # Revoked, then a brand-new token: its first fetch of the same content is a receipt.
    revoke_feed_token(world.tapai, new.id, actor=admin, now=clock.advance(minutes=1))
    db.session.commit()
    assert client.get(feed_url(new_secret, "rss")).status_code == 404
    third, third_secret = world.token()
    client.get(feed_url(third_secret, "atom"), headers={"If-None-Match": etag})
    assert len(_receipts(third.id)) == 1
    for token_id in (tok.id, new.id, third.id):
        etags = [r.etag for r in _receipts(token_id)]
        assert len(etags) == len(set(etags))  # one receipt per content and token


def test_built_and_stored_bodies_and_304s_agree_on_validators(world, client, clock):
    """The first 200 builds the body (validators from the session), the next serves it stored
    (read with the token, binary on PostgreSQL), and the 304 reads only the token: the same
    ETag, Last-Modified and bytes on every path, every format, gzip or not."""
    world.published(at=T0)
    world.published("Second", at=T0 + dt.timedelta(hours=1))
    tok, secret = world.token()
    clock.advance(hours=2)  # Last-Modified is capped at the response's own date
    for fmt in ("rss", "atom", "ics"):
        for coding in ({}, {"Accept-Encoding": "gzip"}):
            built = client.get(feed_url(secret, fmt), headers=coding)
            stored = client.get(feed_url(secret, fmt), headers=coding)
            assert built.status_code == stored.status_code == 200
            assert built.headers["ETag"] == stored.headers["ETag"]
            assert built.headers["Last-Modified"] == stored.headers["Last-Modified"]
            assert built.data == stored.data
            held = {**coding, "If-None-Match": built.headers["ETag"]}
            not_modified = client.get(feed_url(secret, fmt), headers=held)
            assert not_modified.status_code == 304
            assert not_modified.headers["ETag"] == built.headers["ETag"]
            since = {**coding, "If-Modified-Since": built.headers["Last-Modified"]}
            assert client.get(feed_url(secret, fmt), headers=since).status_code == 304
    assert len(_receipts(tok.id)) == 1


@pytest.mark.postgres_only
def test_readers_polling_side_by_side_after_each_change_lose_no_receipt(world, app, clock):
    """Eight readers of one token poll at once right after each revision: the new content
    always has a receipt (side by side they may write one each: duplicates, never a gap), and
    polls after the burst write nothing more."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (concurrent transactions); set PORTAL_TEST_DATABASE_URL")
    change = world.published(at=T0)
    tok, secret = world.token()
    with app.test_client() as reader:
        etag = reader.get(feed_url(secret, "rss")).headers["ETag"]
    seen = {_receipts(tok.id)[0].etag}
    for n in range(3):
        world.reschedule(change, days=20 + n, at=clock.advance(minutes=1))
        statuses, errors = _poll_at_once(app, secret, etag, 8)
        assert not errors, errors
        assert statuses == [200] * 8
        receipts = _receipts(tok.id)
        new = {r.etag for r in receipts} - seen
        assert len(new) == 1, f"revision {n + 2}: no receipt, or more than one content"
        seen |= new
        before = len(receipts)
        with app.test_client() as reader:
            for _ in range(3):
                clock.advance(minutes=2)
                reader.get(feed_url(secret, "rss"))
        assert len(_receipts(tok.id)) == before
        # Side by side the kept id may end one receipt behind the newest, but always at a
        # receipt of this token with the current content (``point_to_latest``).
        kept = db.session.get(FeedReceipt, _kept(tok.id))
        assert kept.token_id == tok.id and kept.etag in new
