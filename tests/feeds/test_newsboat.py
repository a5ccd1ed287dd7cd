"""A real feed reader: newsboat reads the tenant's and the public RSS and Atom feeds over HTTP,
including every case of issue #14 (``tests.feeds.test_standards.build_cases``)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess

import pytest
from pytest_flask.live_server import LiveServer
from sqlalchemy import select

from portal.extensions import db, dispose_engines
from portal.feeds.models import FeedReceipt
from tests.conftest import T0
from tests.feeds.conftest import feed_url
from tests.feeds.test_standards import build_cases

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("newsboat") is None,
        reason="the newsboat binary is not installed (apt-get install newsboat)",
    ),
]


@pytest.fixture
def live_server(app, request):
    """pytest-flask's live server (function-scoped, on 127.0.0.1 and a free port), allowed 30 s
    to start instead of the plugin's 5: on a loaded 2-core machine the fork takes longer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = LiveServer(app, "127.0.0.1", port, wait=30, clean_stop=False)
    server.start()
    request.addfinalizer(server.stop)
    return server


@pytest.fixture
def served(world, request):
    """Two published changes for Tapai, one for Other only, a draft; then the live server."""
    world.published("Upgrade the fusion model", at=T0)
    cancelled = world.published("Retire the v1 endpoint", at=T0)
    world.cancel(cancelled, at=T0)
    world.draft("Secret draft")
    _, secret = world.token()
    db.session.commit()
    dispose_engines()  # no open connection may cross the live server's fork
    return secret, request.getfixturevalue("live_server")


def newsboat(tmp_path, url: str, unread: int = 2) -> list[tuple[str, str, int]]:
    """Run newsboat once, non-interactively; returns (guid, title, pubDate) of the cached items
    after checking it reported ``unread`` new articles and no error."""
    (tmp_path / "urls").write_text(url + "\n")
    (tmp_path / "config").write_text('user-agent "Newsboat-test"\n')
    log = tmp_path / "nb.log"
    result = subprocess.run(
        [
            "newsboat",
            "-u",
            str(tmp_path / "urls"),
            "-c",
            str(tmp_path / "cache.db"),
            "-C",
            str(tmp_path / "config"),
            "-d",
            str(log),
            "-l",
            "3",
            "-x",
            "reload",
            "print-unread",
        ],
        env={**os.environ, "HOME": str(tmp_path), "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "USERERROR" not in log.read_text(errors="replace"), log.read_text(errors="replace")
    assert f"{unread} unread articles" in result.stdout, result.stdout
    with sqlite3.connect(tmp_path / "cache.db") as conn:
        return conn.execute("select guid, title, pubDate from rss_item order by title").fetchall()


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_newsboat_lists_the_tenants_changes(served, tmp_path, fmt):
    secret, live_server = served
    items = newsboat(tmp_path, live_server.url(feed_url(secret, fmt)))
    titles = [title for _, title, _ in items]
    assert titles == [
        "[Cancelled] Retire the v1 endpoint (maintenance)",
        "[Scheduled] Upgrade the fusion model (maintenance)",
    ]
    assert all(guid.startswith("http://portal.test/changes/") for guid, _, _ in items)
    assert {pub for _, _, pub in items} == {int(T0.timestamp())}
    receipts = db.session.execute(select(FeedReceipt)).scalars().all()
    assert [r.user_agent for r in receipts] == ["Newsboat-test"]
    assert receipts[0].formats == fmt


@pytest.fixture
def served_cases(world, app, request):
    """The issue's cases, then the live server."""
    cases = build_cases(world, app)
    db.session.commit()
    dispose_engines()
    return cases, request.getfixturevalue("live_server")


def test_newsboat_reads_every_case_of_the_issue(served_cases, tmp_path):
    """Upcoming changes beyond the cap, an empty tenant, a public feed with a change made
    private, and the public feed of a service a change was retargeted off."""
    cases, live_server = served_cases
    for name, (template, expected, withdrawn) in cases.items():
        for fmt in ("rss", "atom"):
            folder = tmp_path / f"{name}-{fmt}"  # one cache per feed: GUIDs collapse otherwise
            folder.mkdir()
            shown = len(expected) - len(withdrawn)
            items = newsboat(folder, live_server.url(template.format(fmt=fmt)), unread=shown)
            assert len(items) == shown, (name, fmt, items)
            public = template.startswith("/public/")
            prefix = "http://portal.test/" + ("public/changes/" if public else "changes/")
            assert all(guid.startswith(prefix) for guid, _, _ in items)
