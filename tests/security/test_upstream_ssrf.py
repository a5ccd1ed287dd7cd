"""The upstream feed import cannot be pointed inside (issue 17 item 6): loopback, private,
link-local and metadata addresses are refused after DNS resolution and on every redirect unless
the operator's allow-list names them, and every failure reads only "could not fetch"."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading

import pytest

from portal.changes.models import Change
from portal.extensions import db
from portal.feeds.upstream import (
    COULD_NOT_FETCH,
    UpstreamError,
    address_allowed,
    fetch,
    import_upstream,
    register_upstream_feed,
)
from tests.conftest import T0

RSS_9999 = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>V</title>
<link>https://vendor.example/</link><description>d</description>
<item><title>Far\r\nfuture</title><guid>far-1</guid>
<pubDate>Fri, 31 Dec 9999 22:00:00 GMT</pubDate><description>x</description></item>
</channel></rss>"""


class Server:
    """A real HTTP server on ``host``; ``hits`` lists the paths it was asked for."""

    def __init__(self, host: str, routes: dict):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers():
    made = []

    def make(host="127.0.0.1", routes=None):
        server = Server(host, routes if routes is not None else {})
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "fd00:ec2::254",  # AWS metadata over IPv6
        "100.100.100.200",  # shared address space (Alibaba metadata)
        "fe80::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "224.0.0.1",
    ],
)
def test_inside_addresses_are_refused_by_default(address):
    assert not address_allowed(address)


def test_public_addresses_and_allow_listed_networks_pass():
    assert address_allowed("93.184.215.14") and address_allowed("2606:4700::1111")
    assert address_allowed("10.1.2.3", ["10.1.2.0/24"])
    assert not address_allowed("10.1.3.3", ["10.1.2.0/24", "not a network"])


def test_loopback_is_refused_and_never_contacted(servers):
    server = servers(routes={"/feed": (200, {}, b"<rss/>")})
    with pytest.raises(UpstreamError) as refused:
        fetch(server.url + "/feed", timeout=2, max_bytes=10_000)
    assert str(refused.value) == COULD_NOT_FETCH and server.hits == []


def test_a_name_resolving_to_loopback_is_refused(servers):
    server = servers(routes={"/feed": (200, {}, b"<rss/>")})
    port = server.httpd.server_address[1]
    with pytest.raises(UpstreamError, match="^could not fetch the feed$"):
        fetch(f"http://localhost:{port}/feed", timeout=2, max_bytes=10_000)
    assert server.hits == []


def test_an_allow_listed_network_is_fetched(servers):
    server = servers(routes={"/feed": (200, {}, b"<rss/>")})
    body = fetch(server.url + "/feed", timeout=2, max_bytes=10_000, allowed=["127.0.0.1/32"])
    assert body == b"<rss/>" and server.hits == ["/feed"]


def test_every_redirect_is_checked(servers):
    inside = servers("127.0.0.2", routes={"/secret": (200, {}, b"internal")})
    entry = servers(routes={"/feed": (302, {"Location": inside.url + "/secret"}, b"")})
    with pytest.raises(UpstreamError, match="^could not fetch the feed$"):
        fetch(entry.url + "/feed", timeout=2, max_bytes=10_000, allowed=["127.0.0.1/32"])
    assert entry.hits == ["/feed"] and inside.hits == []
    # A redirect to another scheme is refused as well.
    entry_file = servers(routes={"/feed": (302, {"Location": "file:///etc/passwd"}, b"")})
    with pytest.raises(UpstreamError, match="^could not fetch the feed$"):
        fetch(entry_file.url + "/feed", timeout=2, max_bytes=10_000, allowed=["127.0.0.0/8"])


def test_open_and_closed_ports_fail_alike(servers):
    open_server = servers(routes={})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    errors = set()
    for url in (open_server.url + "/nothing", f"http://127.0.0.1:{closed_port}/"):
        for allowed in ([], ["127.0.0.0/8"]):
            with pytest.raises(UpstreamError) as err:
                fetch(url, timeout=2, max_bytes=10_000, allowed=allowed)
            errors.add(str(err.value))
    assert errors == {COULD_NOT_FETCH}


@pytest.fixture
def engineer_and_team(make_user, make_team, make_service):
    team = make_team("vendor-team")
    make_service(team, "vendor-svc")
    engineer = make_user(teams=[team])
    db.session.commit()
    return engineer, team


def test_import_refuses_loopback_unless_the_operator_allows_it(app, servers, engineer_and_team):
    engineer, team = engineer_and_team
    server = servers(routes={"/feed": (200, {}, RSS_9999)})
    feed = register_upstream_feed(
        engineer, team_id=team.id, name="Vendor", url=server.url + "/feed", now=T0
    )
    refused = import_upstream(feed, now=T0, timeout=2, max_bytes=100_000)
    assert refused.error == COULD_NOT_FETCH and server.hits == []
    app.config["FEED_IMPORT_ALLOWED_NETWORKS"] = ["127.0.0.1/32"]
    allowed = import_upstream(feed, now=T0, timeout=2, max_bytes=100_000)
    assert allowed.error is None and server.hits == ["/feed"]


def test_an_entry_dated_9999_becomes_a_draft_at_the_default_lead(app, servers, engineer_and_team):
    engineer, team = engineer_and_team
    server = servers(routes={"/feed": (200, {}, RSS_9999)})
    app.config["FEED_IMPORT_ALLOWED_NETWORKS"] = ["127.0.0.0/8"]
    register_upstream_feed(
        engineer, team_id=team.id, name="Vendor", url=server.url + "/feed", now=T0
    )
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["feeds", "import"])
    assert result.exit_code == 0, result.output
    [change] = db.session.query(Change).all()
    assert change.starts_at.year < 2100 and change.starts_at - T0 <= dt.timedelta(days=31)
    assert change.title == "Far future"
