"""A real feed reader: newsboat reads the tenant's RSS and Atom feeds served over HTTP."""

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


def newsboat(tmp_path, url: str) -> list[tuple[str, str, int]]:
    """Run newsboat once, non-interactively; returns (guid, title, pubDate) of the cached items."""
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
    assert "2 unread articles" in result.stdout, result.stdout
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
