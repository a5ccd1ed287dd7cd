"""Upstream import: saved RSS, Atom and malformed samples served by a real local HTTP server."""

from __future__ import annotations

import pathlib
import time

import pytest
from flask import g
from sqlalchemy import func, select

from portal.changes.models import DRAFT, Change
from portal.extensions import db
from portal.feeds.models import UpstreamEntry, UpstreamFeed
from portal.feeds.upstream import UpstreamError, fetch, import_upstream, register_upstream_feed
from tests.conftest import T0

SAMPLES = pathlib.Path(__file__).parent / "samples"


@pytest.fixture
def app_config(app_config):
    """The local test server is on loopback, which the import refuses unless allowed."""
    return {**app_config, "FEED_IMPORT_ALLOWED_NETWORKS": ["127.0.0.0/8"]}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _feed(world, url, name="Vendor"):
    feed = register_upstream_feed(world.engineer, team_id=world.team.id, name=name, url=url, now=T0)
    db.session.commit()
    return feed


def _import(feed, **kw):
    result = import_upstream(
        feed, now=T0, timeout=kw.get("timeout", 5), max_bytes=kw.get("max_bytes", 1_000_000)
    )
    db.session.commit()
    return result


def switch(login, user):
    """Sign in as another user: pytest-flask's test context shares ``g``, where Flask-Login
    caches the current user, across this test's requests."""
    g.pop("_login_user", None)
    return login(user)


def _changes():
    return db.session.execute(select(Change).order_by(Change.id)).scalars().all()


def test_rss_entries_become_drafts_once(world, upstream_server):
    upstream_server.routes["/vendor.rss"] = (200, sample("vendor.rss"), 0)
    feed = _feed(world, upstream_server.url + "/vendor.rss")
    result = _import(feed)
    assert result.error is None and len(result.created) == 2
    tls, pagination = _changes()
    assert {c.status for c in (tls, pagination)} == {DRAFT}
    assert tls.title == "TLS 1.0 & 1.1 disabled"
    assert "<script>" not in tls.body_md and "TLS 1.2 or later" in tls.body_md
    assert "https://vendor.example/changelog/tls" in tls.body_md
    assert tls.starts_at.isoformat() == "2026-12-01T10:00:00+00:00"  # future date kept
    assert pagination.starts_at > T0  # a past date never gives a start in the past
    assert [t.service_id for t in tls.targets] == [world.service.id]
    again = _import(feed)
    assert again.created == [] and again.known == 2
    assert len(_changes()) == 2
    assert db.session.execute(select(func.count()).select_from(UpstreamEntry)).scalar() == 2
    assert db.session.get(UpstreamFeed, feed.id).last_result.startswith("0 new draft(s)")


def test_atom_entries_become_drafts_and_nothing_is_published(world, upstream_server):
    upstream_server.routes["/notes.atom"] = (200, sample("vendor.atom"), 0)
    result = _import(_feed(world, upstream_server.url + "/notes.atom"))
    [change] = result.created
    assert change.title == "Edge certificates rotate" and change.status == DRAFT
    assert change.published_at is None and change.revision_number == 0


@pytest.mark.parametrize(
    "route, expected",
    [
        ((200, sample("malformed.xml"), 0), "malformed feed"),
        ((200, b"<html><body>not a feed</body></html>", 0), "not an RSS or Atom feed"),
        ((200, b"just text", 0), "malformed feed"),
        ((500, b"oops", 0), "could not fetch"),
        ((404, b"", 0), "could not fetch"),
        ((200, b"<rss>" + b" " * 300_000 + b"</rss>", 0), "could not fetch"),
    ],
)
def test_bad_upstream_feeds_are_reported_and_skipped(world, upstream_server, route, expected):
    upstream_server.routes["/feed"] = route
    feed = _feed(world, upstream_server.url + "/feed")
    result = _import(feed, max_bytes=100_000)
    assert expected in result.error
    assert _changes() == []
    assert db.session.get(UpstreamFeed, feed.id).last_result.startswith("skipped:")


def test_a_slow_drip_feed_is_cut_off_at_the_deadline(world, upstream_server):
    upstream_server.routes["/slow"] = (200, sample("vendor.rss"), 0.05)
    started = time.monotonic()
    result = _import(_feed(world, upstream_server.url + "/slow"), timeout=0.5)
    assert time.monotonic() - started < 3
    assert result.error == "could not fetch the feed"
    assert _changes() == []


def test_an_unreachable_feed_is_reported(world, upstream_server):
    port = upstream_server.server_address[1]
    upstream_server.shutdown()
    upstream_server.server_close()
    result = _import(_feed(world, f"http://127.0.0.1:{port}/gone"))
    assert result.error == "could not fetch the feed"


def test_fetch_refuses_other_schemes():
    with pytest.raises(UpstreamError):
        fetch("file:///etc/passwd", timeout=1, max_bytes=10)


def test_cli_imports_every_active_feed_and_reports_skips(world, app, upstream_server):
    upstream_server.routes["/vendor.rss"] = (200, sample("vendor.rss"), 0)
    upstream_server.routes["/bad"] = (200, sample("malformed.xml"), 0)
    _feed(world, upstream_server.url + "/vendor.rss")
    _feed(world, upstream_server.url + "/bad", name="Broken")
    result = app.test_cli_runner().invoke(args=["feeds", "import"])
    assert result.exit_code == 1
    assert "2 draft(s) created, 1 skipped" in result.output
    assert "Broken" in result.output and "malformed feed" in result.output
    assert len(_changes()) == 2
    again = app.test_cli_runner().invoke(args=["feeds", "import", "--feed", "1"])
    assert "0 draft(s) created" in again.output and again.exit_code == 0


def test_engineers_register_feeds_for_their_own_teams_only(world, app, login, make_team, make_user):
    client = login(world.engineer)
    page = client.get("/feeds/upstream")
    assert page.status_code == 200 and "Register a feed" in page.get_data(as_text=True)
    bad = client.post(
        "/feeds/upstream",
        data={"team_id": world.team.id, "name": "X", "url": "ftp://vendor.example/feed"},
    )
    assert bad.status_code == 400 and "http://" in bad.get_data(as_text=True)
    foreign = make_team()
    other_team = client.post(
        "/feeds/upstream",
        data={"team_id": foreign.id, "name": "X", "url": "https://vendor.example/feed"},
    )
    assert other_team.status_code == 400
    junk = client.post("/feeds/upstream", data={"team_id": "abc", "name": "", "url": ""})
    assert junk.status_code == 400
    ok = client.post(
        "/feeds/upstream",
        data={"team_id": world.team.id, "name": "Vendor", "url": "https://vendor.example/feed"},
    )
    assert ok.status_code == 302
    [feed] = db.session.execute(select(UpstreamFeed)).scalars().all()
    assert feed.created_by_id == world.engineer.id
    outsider = make_user(teams=[foreign])
    customer = make_user(tenant=world.tapai)
    db.session.commit()
    assert switch(login, outsider).post(f"/feeds/upstream/{feed.id}/remove").status_code == 404
    assert switch(login, customer).get("/feeds/upstream").status_code == 403
    removed = switch(login, world.engineer).post(f"/feeds/upstream/{feed.id}/remove")
    assert removed.status_code == 302
    assert db.session.get(UpstreamFeed, feed.id).active is False


@pytest.mark.parametrize(
    "args",
    [
        ["--feed", "99999999999999999999"],  # beyond the database's integers
        ["--feed", "0"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--timeout", "-1"],
        ["--timeout", "1e309"],
    ],
)
def test_feeds_import_refuses_numbers_it_cannot_use_as_a_usage_error(app, args):
    """Exit status 2 with a message naming the option, never a traceback or a run in which
    every feed "could not be fetched" (a NaN or negative timeout)."""
    result = app.test_cli_runner().invoke(args=["feeds", "import", *args])
    assert result.exit_code == 2, (args, result.output, result.exception)
    assert args[0] in result.output
