"""A fetch receipt, and its ledger entry, claim only what the response carried.

Found by a break-it pass on issue 14: a receipt named revisions read after the body was chosen
(another worker's revision, committed in between, counted as received), and a 304 wrote a
receipt for content the token had never been sent (``If-None-Match: *``, an
``If-Modified-Since`` from another format or another reader).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from sqlalchemy import select
from werkzeug.http import http_date

import portal.feeds.responses as responses
import portal.feeds.serving as serving
from portal.auth.models import User
from portal.changes.models import Change
from portal.changes.services import input_of, revise
from portal.extensions import db
from portal.feeds.models import FeedReceipt
from portal.ledger.models import LedgerEntry
from tests.conftest import T0
from tests.feeds.conftest import DAY, feed_url


def _receipts() -> list[FeedReceipt]:
    db.session.expire_all()
    return list(db.session.execute(select(FeedReceipt).order_by(FeedReceipt.id)).scalars())


def _fetched() -> list[dict]:
    entries = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.action == "feed.fetched").order_by(LedgerEntry.seq)
    ).scalars()
    return [json.loads(e.payload) for e in entries]


def test_if_none_match_star_is_answered_304_but_records_no_receipt(world, client, clock):
    """RFC 9110 §13.1.2: ``*`` matches any current representation, so a GET gets 304; the
    reader proved nothing about holding it, so nothing counts as received."""
    world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=1)
    r = client.get(feed_url(secret, "rss"), headers={"If-None-Match": "*"})
    assert r.status_code == 304 and r.data == b""
    assert _receipts() == [] and _fetched() == []


def test_if_modified_since_from_a_reader_that_never_fetched_records_no_receipt(
    world, client, clock
):
    world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=1)
    r = client.get(feed_url(secret, "ics"), headers={"If-Modified-Since": http_date(clock.now())})
    assert r.status_code == 304
    assert _receipts() == [] and _fetched() == []


def test_a_304_in_another_format_does_not_add_that_format_to_the_receipt(world, client, clock):
    world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=1)
    rss = client.get(feed_url(secret, "rss"))
    assert rss.status_code == 200
    clock.advance(minutes=5)  # past the touch interval: a real revalidation would count
    ics = client.get(
        feed_url(secret, "ics"), headers={"If-Modified-Since": rss.headers["Last-Modified"]}
    )
    assert ics.status_code == 304
    [receipt] = _receipts()
    assert receipt.formats == "rss" and receipt.fetch_count == 1
    assert len(_fetched()) == 1


def test_a_304_revalidating_content_the_token_received_extends_its_receipt(world, client, clock):
    world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=1)
    rss = client.get(feed_url(secret, "rss"))
    clock.advance(minutes=5)
    again = client.get(feed_url(secret, "rss"), headers={"If-None-Match": rss.headers["ETag"]})
    assert again.status_code == 304
    [receipt] = _receipts()
    assert receipt.fetch_count == 2 and receipt.formats == "rss"
    assert receipt.last_fetched_at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)
    assert len(_fetched()) == 1  # a revalidation is not a new delivery
    # The same content in a new format, actually sent, joins the receipt.
    atom = client.get(feed_url(secret, "atom"))
    assert atom.status_code == 200
    [receipt] = _receipts()
    assert receipt.formats == "atom,rss"


def test_a_revision_committed_while_the_body_is_served_is_not_claimed_as_received(
    world, app, client, clock, monkeypatch
):
    """Another worker commits revision 2 after this request chose the body of revision 1: the
    receipt and the ledger say revision 1, what the body shows."""
    change = world.published(at=T0)
    change_id, engineer_id = change.id, world.engineer.id
    _, secret = world.token()
    clock.advance(minutes=1)
    original = responses.feed_body
    fired = []

    def feed_body_while_another_worker_revises(*args, **kwargs):
        served = original(*args, **kwargs)
        if not fired:
            fired.append(True)
            with app.app_context():  # its own session and connection
                other = db.session.get(Change, change_id)
                start = T0 + 30 * DAY
                revise(
                    other,
                    replace(
                        input_of(other),
                        starts_at=start,
                        ends_at=start + (other.ends_at - other.starts_at),
                    ),
                    actor=db.session.get(User, engineer_id),
                    now=clock.now(),
                )
                db.session.commit()
                db.session.remove()
        return served

    monkeypatch.setattr(responses, "feed_body", feed_body_while_another_worker_revises)
    r = client.get(feed_url(secret, "rss"))
    assert r.status_code == 200 and fired
    shown = re.findall(r"Revision:(?:</strong>|&lt;/strong&gt;) (\d+)", r.get_data(as_text=True))
    assert shown == ["1"]
    [receipt] = _receipts()
    assert json.loads(receipt.revisions) == [[change_id, 1]]
    assert [e["revisions"] for e in _fetched()] == [[[change_id, 1]]]
    # The next fetch gets revision 2, and its own receipt says so.
    monkeypatch.undo()
    clock.advance(minutes=1)
    nxt = client.get(feed_url(secret, "rss"), headers={"If-None-Match": r.headers["ETag"]})
    assert nxt.status_code == 200
    assert [json.loads(x.revisions) for x in _receipts()] == [[[change_id, 1]], [[change_id, 2]]]


def test_a_stored_body_is_receipted_with_the_revisions_it_was_built_from(world, client, clock):
    """The second reader is served the stored body: its receipt names the same revisions."""
    change = world.published(at=T0)
    _, first = world.token(name="Reader one")
    _, second = world.token(name="Reader two")
    clock.advance(minutes=1)
    assert client.get(feed_url(first, "rss")).status_code == 200
    assert client.get(feed_url(second, "rss")).status_code == 200
    assert [json.loads(x.revisions) for x in _receipts()] == [[[change.id, 1]]] * 2


def test_a_format_built_while_a_revision_lands_gets_its_own_receipt(
    world, client, clock, monkeypatch
):
    """The token's latest receipt is of the same version but names revision 1; the atom body,
    built after another worker committed revision 2, shows revision 2: it is new content to
    this reader (its own receipt), not a new format of the old receipt."""
    change = world.published(at=T0)
    _, secret = world.token()
    clock.advance(minutes=2)
    assert client.get(feed_url(secret, "rss")).status_code == 200
    clock.advance(minutes=2)
    real = serving.entries
    fired = []

    def entries_while_another_worker_revises(scope, limit):
        if not fired:
            fired.append(True)
            world.reschedule(change, days=12, at=clock.now())  # commits revision 2
        return real(scope, limit)

    monkeypatch.setattr(serving, "entries", entries_while_another_worker_revises)
    r = client.get(feed_url(secret, "atom"))
    assert r.status_code == 200 and fired
    shown = re.findall(r"Revision:(?:</strong>|&lt;/strong&gt;) (\d+)", r.get_data(as_text=True))
    assert shown == ["2"]
    assert [(x.formats, json.loads(x.revisions)) for x in _receipts()] == [
        ("rss", [[change.id, 1]]),
        ("atom", [[change.id, 2]]),
    ]
    assert [e["revisions"] for e in _fetched()] == [[[change.id, 1]], [[change.id, 2]]]
