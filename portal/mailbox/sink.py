"""The demo's embedded SMTP sink: an aiosmtpd server that keeps every message it accepts.

The handler runs in aiosmtpd's own thread, so it pushes its own app context (and with it its
own database session) for each message and commits there. If the database write fails it
answers 451, a temporary failure, so the sender retries instead of believing it delivered.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.controller import Controller
from flask import Flask

from portal.clock import get_clock
from portal.extensions import db
from portal.mailbox.services import store_caught_mail

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class CatchingHandler:
    """aiosmtpd handler storing each accepted message as a ``CaughtMail`` row."""

    def __init__(self, app: Flask):
        self.app = app

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        # The database write blocks (SQLite may wait for a lock), so keep it off the event
        # loop: other SMTP sessions carry on meanwhile.
        mail_id = await asyncio.to_thread(
            self.store, envelope.mail_from or "", list(envelope.rcpt_tos), raw
        )
        if mail_id is None:
            return "451 4.3.0 Mailbox unavailable, try again later"
        log.info("caught mail %s to %s", mail_id, ", ".join(envelope.rcpt_tos))
        return f"250 2.0.0 Message accepted as caught mail {mail_id}"

    def store(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> int | None:
        """Store one message in its own app context; its id, or None if that failed."""
        with self.app.app_context():
            try:
                mail = store_caught_mail(
                    mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw, now=get_clock().now()
                )
                db.session.commit()
                return mail.id
            except Exception:  # any storage failure becomes a temporary SMTP failure
                db.session.rollback()
                log.exception("demo mail sink could not store a message")
                return None
            finally:
                db.session.remove()


def start_sink(app: Flask, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the sink in a background thread; raises OSError if the port is taken."""
    controller = Controller(
        CatchingHandler(app),
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        ready_timeout=10,
    )
    controller.start()
    return controller
