"""Fixtures for the feeds tests: two tenants using one service, published changes made through
the changes feature's own services, feed tokens, and a small local HTTP server for upstream
feeds."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from portal.changes import lifecycle
from portal.changes.services import input_of, publish, revise
from portal.extensions import db
from portal.feeds.tokens import issue_feed_token
from tests.conftest import T0

DAY = dt.timedelta(days=1)


@pytest.fixture
def world(make_tenant, make_user, make_team, make_service, make_usage, make_change):
    """Tapai and Other both use Face Fusion API; helpers publish, revise and cancel changes."""
    team = make_team("face-fusion", "Face Fusion")
    service = make_service(team, "face-fusion-api", "Face Fusion API")
    ocr = make_service(team, "document-ocr", "Document OCR")  # nobody uses it
    tapai = make_tenant("tapai", "Tapai")
    other = make_tenant("other", "Other Co")
    lonely = make_tenant("lonely", "Lonely Ltd")  # uses nothing
    for t in (tapai, other):
        make_usage(t, service)
    engineer = make_user("eng@provider.example", name="Erin Engineer", teams=[team])

    def draft(
        title="Upgrade the fusion model",
        *,
        days=10,
        visibility="affected",
        body="The output **resolution** changes.",
        impact="maintenance",
        services=None,
    ):
        return make_change(
            services=services or [service],
            author=engineer,
            title=title,
            body=body,
            impact=impact,
            starts_at=T0 + days * DAY,
            visibility=visibility,
        )

    def published(title="Upgrade the fusion model", *, at=T0, **kw):
        change = draft(title, **kw)
        publish(change, actor=engineer, now=at)
        db.session.commit()
        return change

    def reschedule(change, *, days, at):
        inp = input_of(change)
        revise(
            change,
            replace(
                inp,
                starts_at=T0 + days * DAY,
                ends_at=T0 + days * DAY + (inp.ends_at - inp.starts_at),
            ),
            actor=engineer,
            now=at,
        )
        db.session.commit()

    def revise_to(change, *, at, **fields):
        """Revise a scheduled change with new field values (``targets``, ``visibility`` …)."""
        revise(change, replace(input_of(change), **fields), actor=engineer, now=at)
        db.session.commit()

    def cancel(change, *, at):
        lifecycle.cancel(change, actor=engineer, now=at, reason="no longer needed")
        db.session.commit()

    def token(tenant=tapai, name="Ops reader"):
        admin = make_user(tenant=tenant, is_tenant_admin=True)
        tok, secret = issue_feed_token(tenant, name, actor=admin, now=T0)
        db.session.commit()
        return tok, secret

    db.session.commit()
    return SimpleNamespace(
        team=team,
        service=service,
        ocr=ocr,
        tapai=tapai,
        other=other,
        lonely=lonely,
        engineer=engineer,
        draft=draft,
        published=published,
        reschedule=reschedule,
        revise_to=revise_to,
        cancel=cancel,
        token=token,
    )


def feed_url(secret: str, fmt: str) -> str:
    return f"/feeds/t/{secret}/changes.{fmt}"


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``routes``: path → (status, body bytes, delay seconds between 1-byte chunks)."""

    routes: dict = {}

    def do_GET(self):  # noqa: N802
        status, body, drip = self.routes.get(self.path, (404, b"not here", 0))
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if drip:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(drip)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream_server():
    """A real HTTP server on a free port; tests fill ``server.routes``."""
    handler = type("Handler", (UpstreamHandler,), {"routes": {}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.routes = handler.routes
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
