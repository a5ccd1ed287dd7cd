"""Feed versions: every revision of a change moves the version of each feed it appears in,
so a feed's validators come from one row and a stale 304 is impossible."""

from __future__ import annotations

import datetime as dt

from portal.extensions import db
from portal.feeds import versions
from tests.conftest import T0
from tests.feeds.conftest import DAY, feed_url


def _scope(kind, obj):
    return f"{kind}:{obj.id}"


def test_nothing_published_means_version_zero(world):
    world.draft()
    db.session.commit()
    assert versions.current(_scope("tenant", world.tapai)) == (0, None, None)


def test_publish_revise_and_cancel_move_every_affected_scope(world):
    change = world.published(at=T0, visibility="public")
    seen = [versions.current(_scope("tenant", world.tapai))[0]]
    world.reschedule(change, days=20, at=T0 + DAY)
    seen.append(versions.current(_scope("tenant", world.tapai))[0])
    world.cancel(change, at=T0 + 2 * DAY)
    seen.append(versions.current(_scope("tenant", world.tapai))[0])
    assert seen == [1, 2, 3]
    # The other affected tenant and the service's public feed moved with it; an unaffected
    # tenant's feed did not.
    assert versions.current(_scope("tenant", world.other))[0] == 3
    assert versions.current(_scope("service", world.service))[0] == 3
    version, changed_at, last_modified = versions.current(_scope("tenant", world.tapai))
    assert changed_at == T0 + 2 * DAY
    assert last_modified == T0 + 2 * DAY + dt.timedelta(seconds=1)
    assert versions.current(_scope("tenant", world.lonely)) == (0, None, None)


def test_last_modified_moves_by_a_whole_second_for_every_version(world):
    """Three revisions within one second: three distinct Last-Modified seconds, each later
    than the change it stands for, so If-Modified-Since can tell every version apart."""
    change = world.published(at=T0 + dt.timedelta(microseconds=100_000))
    seen = [versions.current(_scope("tenant", world.tapai)).last_modified]
    world.reschedule(change, days=20, at=T0 + dt.timedelta(microseconds=400_000))
    seen.append(versions.current(_scope("tenant", world.tapai)).last_modified)
    world.reschedule(change, days=21, at=T0 + dt.timedelta(microseconds=900_000))
    seen.append(versions.current(_scope("tenant", world.tapai)).last_modified)
    second = dt.timedelta(seconds=1)
    assert seen == [T0 + second, T0 + 2 * second, T0 + 3 * second]
    # Later changes catch up with the clock again.
    world.reschedule(change, days=22, at=T0 + DAY)
    assert versions.current(_scope("tenant", world.tapai)).last_modified == T0 + DAY + second


def test_a_revision_turns_a_held_etag_into_a_full_response(world, client):
    change = world.published(at=T0)
    _, secret = world.token()
    etag = client.get(feed_url(secret, "rss")).headers["ETag"]
    assert client.get(feed_url(secret, "rss"), headers={"If-None-Match": etag}).status_code == 304
    world.reschedule(change, days=20, at=T0 + DAY)
    response = client.get(feed_url(secret, "rss"), headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
