"""Every poll reads its token's latest receipt with the token (``portal.feeds.tokens``): it must
be the right one, and finding it must not grow with the receipts of other tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, text

from portal import reads
from portal.extensions import db
from portal.feeds.models import FeedReceipt, FeedToken
from portal.feeds.tokens import _ACTIVE_TOKEN, hash_secret, token_for_secret
from tests.conftest import T0


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
    db.session.commit()
    return tok, secret


def test_the_token_comes_with_its_own_latest_receipt(readers):
    tok, secret = readers
    latest = db.session.scalars(
        db.select(FeedReceipt).where(FeedReceipt.token_id == tok.id).order_by(FeedReceipt.id.desc())
    ).first()
    active = token_for_secret(secret)
    assert active is not None
    assert (active.receipt_id, active.receipt_etag) == (latest.id, f"{tok.id}-2")


def test_the_latest_receipt_is_one_index_descent_on_postgresql(readers):
    """With an index on token_id alone PostgreSQL walked the primary key backwards past every
    newer receipt of the other tokens; the (token_id, id) index makes it one descent."""
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
    assert "ix_feed_receipts_token_id_id" in plan, plan
    assert "Backward using pk_feed_receipts" not in plan, plan
