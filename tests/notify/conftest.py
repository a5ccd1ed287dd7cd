"""Fixtures for the delivery tests: a real SMTP server (aiosmtpd on 127.0.0.1, a free port)
that keeps what it receives and can be told to refuse, stall or go away; and a published
change for two third-party tenants and one first-party tenant."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import os
import signal
import socket
import threading
from email import policy
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller

from portal.changes.services import publish
from portal.clock import get_clock
from portal.extensions import db
from portal.notify.dispatch import dispatch_due
from portal.notify.sender import Sender
from portal.notify.smtp import Envelope
from tests.conftest import T0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """An aiosmtpd handler that keeps every accepted message, in arrival order.

    ``replies[address]`` is a list of answers to give (one per delivery attempt to that
    address) before accepting, e.g. ``["451 4.3.0 Try again later"]``; ``stall[address]`` is a
    number of seconds to wait before answering DATA (a hanging server); ``delay`` slows every
    message down (to kill a worker mid-batch).
    """

    def __init__(self):
        self.received: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.replies: dict[str, list[str]] = {}
        self.stall: dict[str, float] = {}
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        rcpt = envelope.rcpt_tos[0].lower()
        if self.stall.get(rcpt):
            await asyncio.sleep(self.stall[rcpt])
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            queued = self.replies.get(rcpt)
            if queued:
                return queued.pop(0)
            msg = email.message_from_bytes(
                envelope.original_content or envelope.content, policy=policy.default
            )
            self.received.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            n = len(self.received)
        return f"250 2.0.0 Ok: queued as SINK{n:05d}"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.received if m["To"].lower() == address.lower()]


class SmtpServer:
    """A controllable real SMTP server on 127.0.0.1."""

    def __init__(self):
        self.port = free_port()
        self.sink = Sink()
        self.controller: Controller | None = None

    def start(self, **options) -> None:
        """Start on the same port; ``options`` go to aiosmtpd's Controller (e.g.
        ``enable_SMTPUTF8=False`` for a relay without SMTPUTF8)."""
        self.controller = Controller(
            self.sink, hostname="127.0.0.1", port=self.port, ready_timeout=5, **options
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sink(smtp_server) -> Sink:
    return smtp_server.sink


@pytest.fixture
def app_config(app_config, smtp_server):
    return {
        **app_config,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": False,
        # Generous: on a loaded CI machine a tight timeout turned a slow answer into a retry
        # and a test found a notice missing (CI, stop 22). Tests of a hanging server set
        # their own, shorter one.
        "MAIL_TIMEOUT_SECONDS": 10,
        "DELIVERY_RETRY_BASE_SECONDS": 60,
    }


@pytest.fixture
def dispatch(app):
    """``dispatch()``: one `forewarn dispatch` run at the frozen clock's time."""

    def _dispatch(**kw):
        return dispatch_due(now=get_clock().now, **kw)

    return _dispatch


@pytest.fixture
def world(app, make_tenant, make_user, make_team, make_service, make_usage, make_change):
    """Two third-party tenants (two notice contacts each) and a first-party one (one contact)
    use one service; an engineer of its team; account managers; a draft change 5 days out."""
    team = make_team("face-fusion", "Face Fusion")
    service = make_service(team, "face-fusion-api", "Face Fusion API")
    tapai = make_tenant("tapai", "Tapai", contacts=2, time_zone="Europe/Paris")
    other = make_tenant("other", "Other Co", contacts=2)
    ptu = make_tenant("ptu", "Ptu", first_party=True, contacts=1)
    for t in (tapai, other, ptu):
        make_usage(t, service)
    engineer = make_user("eng@provider.example", name="Eve Engineer", teams=[team])
    manager = make_user(
        "am@provider.example", name="Alma Manager", is_account_manager=True, manages=[tapai, ptu]
    )
    change = make_change(
        services=[service], author=engineer, starts_at=T0 + dt.timedelta(days=5), ack_required=True
    )
    db.session.commit()
    return SimpleNamespace(
        team=team,
        service=service,
        tapai=tapai,
        other=other,
        ptu=ptu,
        engineer=engineer,
        manager=manager,
        change=change,
    )


@pytest.fixture
def published(world):
    """The world's change, published at T0 (outbox rows written, nothing sent)."""
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()
    return world


def envelope(oid: int, to: str = "ops@tapai.example", **fields) -> Envelope:
    """An envelope as the dispatcher hands it to a sender process (``fields`` override)."""
    payload = (
        f"From: notices@forewarn.example\r\nTo: {to}\r\nSubject: Notice {oid}\r\n\r\nHi\r\n"
    ).encode()
    plain = Envelope(oid, "notices@forewarn.example", (to,), False, False, payload)
    return dataclasses.replace(plain, **fields)


@pytest.fixture
def sender(app):
    """A sender of its own (not the pool's), closed after the test (resumed first if the
    test stopped its process)."""
    s = Sender()
    yield s
    if s.process is not None and s.process.poll() is None:
        try:
            os.kill(s.process.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    s.close(wait=2.0)
