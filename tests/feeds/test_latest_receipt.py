"""Every poll reads its token's newest receipt with the token (``portal.feeds.tokens``), by the
id the token keeps (``FeedToken.latest_receipt_id``, migration 0017): it must be the right
receipt, kept right by every new receipt and by writers side by side, and finding it must cost
one primary-key read whatever the other tokens' receipts."""

from __future__ import annotations

import datetime as dt
import random

import flask_migrate
import pytest
from sqlalchemy import insert, select, text

from portal import create_app, reads
from portal.extensions import db, dispose_engines
from portal.feeds.models import FeedReceipt, FeedToken
from portal.feeds.receipts import point_to_latest
from portal.feeds.tokens import _ACTIVE_TOKEN, hash_secret, token_for_secret
from tests.conftest import T0
from tests.feeds.conftest import feed_url


def _receipts(tokens: list[FeedToken], per_token: int) -> None:
    """``per_token`` receipts for each token, interleaved (a newer one of another token after
    each), the way readers polling side by side write them."""
    rows = [
        {
            "token_id": token.id,
            "tenant_id": token.tenant_id,
            "formats": "rss",
            "first_fetched_at": T0 + dt.timedelta(minutes=n),
            "last_fetched_at": T0 + dt.timedelta(minutes=n),
            "fetch_count": 1,
            "user_agent": "reader",
            "etag": f"{token.id}-{n}",
            "revisions": "[]",
        }
        for n in range(per_token)
        for token in tokens
    ]
    db.session.execute(insert(FeedReceipt), rows)


def _point_every_token_in_shuffled_order() -> None:
    """``point_to_latest`` for every receipt, in a random order: writers of one token that
    commit in any order."""
    pairs = db.session.execute(select(FeedReceipt.token_id, FeedReceipt.id)).all()
    random.Random(14).shuffle(pairs)
    for token_id, receipt_id in pairs:
        point_to_latest(token_id, receipt_id)


@pytest.fixture
def readers(world, make_tenant):
    """Tapai's token (polled long ago) and 200 other readers' tokens (20 in each of 10
    organisations, the most each may hold), with 20 receipts each, all newer than Tapai's."""
    tok, secret = world.token()
    tenants = [make_tenant(f"reader-{i}", f"Reader {i}") for i in range(10)]
    db.session.flush()
    db.session.execute(
        insert(FeedToken),
        [
            {
                "tenant_id": tenant.id,
                "name": f"reader {n}",
                "prefix": f"r{tenant.id}-{n}",
                "token_hash": f"{tenant.id:032d}{n:032d}",
                "created_at": T0,
            }
            for tenant in tenants
            for n in range(20)
        ],
    )
    others = list(db.session.scalars(db.select(FeedToken).where(FeedToken.id != tok.id)))
    _receipts([tok], 3)
    _receipts(others, 20)
    _point_every_token_in_shuffled_order()
    db.session.commit()
    return tok, secret


def _newest(token_id: int) -> FeedReceipt:
    return db.session.scalars(
        select(FeedReceipt).where(FeedReceipt.token_id == token_id).order_by(FeedReceipt.id.desc())
    ).first()


def test_the_token_comes_with_its_own_newest_receipt(readers):
    tok, secret = readers
    active = token_for_secret(secret)
    assert active is not None
    assert (active.receipt_id, active.receipt_etag) == (_newest(tok.id).id, f"{tok.id}-2")


def test_writers_in_any_order_leave_every_token_at_its_newest_receipt(readers):
    """An older receipt committed after a newer one never takes the newer one's place."""
    newest = dict(
        db.session.execute(
            select(FeedReceipt.token_id, db.func.max(FeedReceipt.id)).group_by(FeedReceipt.token_id)
        ).all()
    )
    kept = dict(db.session.execute(select(FeedToken.id, FeedToken.latest_receipt_id)).all())
    assert kept == newest


def test_each_new_content_moves_the_token_to_its_new_receipt(world, client, clock):
    change = world.published(at=T0)
    tok, secret = world.token()
    assert db.session.get(FeedToken, tok.id).latest_receipt_id is None  # never fetched
    etag = client.get(feed_url(secret, "rss")).headers["ETag"]
    first = _newest(tok.id)
    db.session.expire_all()
    assert db.session.get(FeedToken, tok.id).latest_receipt_id == first.id
    # The same content again (a 304, another format): the same receipt, no new one.
    clock.advance(minutes=5)
    assert client.get(feed_url(secret, "rss"), headers={"If-None-Match": etag}).status_code == 304
    client.get(feed_url(secret, "atom"))
    db.session.expire_all()
    assert _newest(tok.id).id == first.id
    assert db.session.get(FeedToken, tok.id).latest_receipt_id == first.id
    assert db.session.get(FeedReceipt, first.id).formats == "atom,rss"
    # New content: a new receipt, and the token points at it.
    world.reschedule(change, days=12, at=T0 + dt.timedelta(hours=1))
    assert client.get(feed_url(secret, "rss"), headers={"If-None-Match": etag}).status_code == 200
    db.session.expire_all()
    second = _newest(tok.id)
    assert second.id != first.id
    assert db.session.get(FeedToken, tok.id).latest_receipt_id == second.id
    assert token_for_secret(secret).receipt_id == second.id


def test_a_token_pointing_at_no_receipt_gets_a_new_one_not_a_skipped_fetch(world, client):
    """The kept id is a hint, not a foreign key: if it found no receipt, the next fetch
    writes a receipt (evidence is never skipped), and the token points at that."""
    world.published(at=T0)
    tok, secret = world.token()
    client.get(feed_url(secret, "rss"))
    first = _newest(tok.id)
    db.session.execute(
        db.update(FeedToken).where(FeedToken.id == tok.id).values(latest_receipt_id=first.id + 999)
    )
    db.session.commit()
    client.get(feed_url(secret, "rss"))
    db.session.expire_all()
    second = _newest(tok.id)
    assert second.id != first.id and second.etag == first.etag
    assert db.session.get(FeedToken, tok.id).latest_receipt_id == second.id


def test_a_token_pointing_at_another_tokens_receipt_still_gets_its_own(world, client, clock):
    """Two readers of one tenant fetch the same content (the same content key). A stray id
    pointing at the other token's receipt must not count this token's fetch as the other's."""
    world.published(at=T0)
    a, a_secret = world.token(name="A")
    b, b_secret = world.token(name="B")
    client.get(feed_url(a_secret, "rss"))
    a_receipt = _newest(a.id)
    db.session.execute(
        db.update(FeedToken).where(FeedToken.id == b.id).values(latest_receipt_id=a_receipt.id)
    )
    db.session.commit()
    clock.advance(minutes=5)
    assert token_for_secret(b_secret).receipt_id is None  # not A's receipt
    assert client.get(feed_url(b_secret, "rss")).status_code == 200
    db.session.expire_all()
    assert db.session.get(FeedReceipt, a_receipt.id).fetch_count == 1
    b_receipt = _newest(b.id)
    assert b_receipt is not None and b_receipt.etag == a_receipt.etag
    assert db.session.get(FeedToken, b.id).latest_receipt_id == b_receipt.id
    clock.advance(minutes=5)
    client.get(feed_url(b_secret, "rss"))
    assert db.session.scalar(select(db.func.count()).where(FeedReceipt.token_id == b.id)) == 1


def test_the_newest_receipt_is_one_index_lookup_on_postgresql(readers):
    """Found as ``max(id)`` inside the poll's statement, the newest receipt cost PostgreSQL a
    subplan on every poll (and, with an index on token_id alone, a walk past every newer
    receipt of other tokens). By the id the token keeps, it is one index lookup."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL plan; set PORTAL_TEST_DATABASE_URL")
    _tok, secret = readers
    db.session.execute(text("ANALYZE feed_receipts"))
    db.session.execute(text("ANALYZE feed_tokens"))
    db.session.commit()
    compiled = reads._compile(_ACTIVE_TOKEN, db.engine.dialect)
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        arguments = compiled.arguments({"token_hash": hash_secret(secret)})
        cursor.execute("EXPLAIN " + compiled.sql, arguments)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    finally:
        connection.close()
    lines = plan.splitlines()
    [scan] = [i for i, line in enumerate(lines) if " on feed_receipts" in line]
    assert "Index Scan using" in lines[scan], plan  # by its primary key or (token_id, id)
    assert "id = feed_tokens.latest_receipt_id" in lines[scan + 1], plan
    assert "SubPlan" not in plan and "InitPlan" not in plan, plan


def test_migration_0017_points_existing_tokens_at_their_newest_receipts(tmp_path):
    """Upgrading a database that already holds receipts: each token gets its newest."""
    url = f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        flask_migrate.upgrade(revision="0016")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tenants (id, slug, name, first_party, time_zone, created_at) "
                    "VALUES (1, 't', 'T', false, 'UTC', :at)"
                ),
                {"at": T0},
            )
            for token_id in (1, 2, 3):
                conn.execute(
                    text(
                        "INSERT INTO feed_tokens (id, tenant_id, name, token_hash, prefix, "
                        "created_at) VALUES (:id, 1, 'r', :hash, 'p', :at)"
                    ),
                    {"id": token_id, "hash": f"{token_id:064d}", "at": T0},
                )
            for receipt_id, token_id in ((1, 1), (2, 2), (3, 1), (4, 2), (5, 1)):
                conn.execute(
                    text(
                        "INSERT INTO feed_receipts (id, token_id, tenant_id, formats, "
                        "first_fetched_at, last_fetched_at, fetch_count, user_agent, etag, "
                        "revisions) VALUES (:id, :token, 1, 'rss', :at, :at, 1, '', 'e', '[]')"
                    ),
                    {"id": receipt_id, "token": token_id, "at": T0},
                )
        flask_migrate.upgrade()
        kept = dict(db.session.execute(select(FeedToken.id, FeedToken.latest_receipt_id)).all())
        assert kept == {1: 5, 2: 4, 3: None}
        flask_migrate.downgrade(revision="0016")
        flask_migrate.upgrade()
        db.session.remove()
        dispose_engines()
