"""The sender process's side: the SMTP conversation of a batch, and what crosses the socket.

``portal.notify.sender`` starts this process (``main``) and hands it batches; here ``serve``
receives each, answers ``TOOK``, sends the messages over one connection (``ship``) and answers
per message, then ``None``. What travels, pickled by ``multiprocessing.connection.Connection``:

- parent → child: ``("batch", settings, envelopes)``: the ``MAIL_*`` settings of the
  connection (``sender.mail_settings()``) and a list of ``smtp.Envelope``; ``("lost", ids)``:
  rows of the batch in flight that another worker took over, not to be sent.
- child → parent: ``TOOK`` once it has read a batch, before sending anything; then
  ``(row id, answer, time.monotonic())`` per message, ``answer`` being the reply text or a
  ``(kind, code, text)`` tuple (``to_wire``/``from_wire``); ``None`` when the batch is done.

The child exits when the parent's end closes (EOF), at once, even mid-batch: a parent that
died (kill -9) cannot record what it sends, so it sends no more than the message in hand. An
envelope that fails for a reason of its own is answered with that reason and the batch goes
on. This module imports no database, model or template module, so the child starts fast.
"""

from __future__ import annotations

import signal
import smtplib
import socket
import sys
import time
import traceback
from collections.abc import Container, Generator, Sequence
from contextlib import closing
from multiprocessing.connection import Connection
from typing import Any

from flask import Flask
from flask_mail import Mail

from portal.notify.smtp import Envelope, NotOffered, SmtpRefusal, smtp_connection, transmit

MAX_RECONNECTS = 3  # a batch reopens a broken connection this often, then leaves the rest

# The child's first answer to a batch, before it sends anything: a child that dies before it
# (it never read the batch) costs the batch nothing, the parent hands it to a new one.
TOOK = "took"

Answer = str | SmtpRefusal  # the reply to DATA, or the refusal (ConnectionLost included)
Event = tuple[int, "str | SmtpRefusal | ConnectionLost", float]  # row id, answer, monotonic s


class ConnectionLost(Exception):
    """The connection could not be opened or broke while this message was being sent (or the
    sender process stopped before answering): temporary, the row is retried."""


class ParentGone(Exception):
    """The child's parent closed its end (or died): stop sending at once."""


def error_text(exc: BaseException) -> str:
    """A short, stable text for a failure to connect or send (at most 500 characters)."""
    if isinstance(exc, SmtpRefusal):
        return str(exc)
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out waiting for the mail server"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused by the mail server"
    if isinstance(exc, smtplib.SMTPServerDisconnected) and str(exc):
        return f"connection lost: {exc}"[:500]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def ship(
    ready: Sequence[Envelope], lost: Container[int] = frozenset()
) -> Generator[Event, None, None]:
    """Send ``ready`` over one connection (inside an app context holding the mail settings),
    reopened if it breaks; yields one (row id, answer, ``time.monotonic()``) per message as it
    is answered: the server's reply to DATA (str), or the ``SmtpRefusal`` / ``ConnectionLost``.
    An envelope whose id is in ``lost`` (asked just before its turn) is not sent and yields
    nothing. Touches no database."""
    done: set[int] = set()
    index = 0
    breaks = 0
    while index < len(ready):
        start = index
        try:
            with smtp_connection() as conn:
                while index < len(ready):
                    envelope = ready[index]
                    index += 1
                    if envelope.id in lost:
                        done.add(index - 1)
                        continue
                    answer: Answer | ConnectionLost
                    try:
                        answer = transmit(conn, envelope)
                    except SmtpRefusal as exc:
                        answer = exc
                    except (OSError, smtplib.SMTPException):
                        raise  # the connection: handled below
                    except Exception as exc:  # noqa: BLE001 (one envelope must not end the batch)
                        # e.g. an address smtplib cannot encode: this message could not be
                        # sent, for a reason of its own; retried (a configuration mistake such
                        # as MAIL_DEFAULT_SENDER can be corrected meanwhile), the session reset.
                        answer = ConnectionLost(f"could not send: {error_text(exc)}")
                        _reset_session(conn)
                    done.add(index - 1)
                    yield envelope.id, answer, time.monotonic()
        except (OSError, smtplib.SMTPException) as exc:
            # The connection could not be opened, or broke while ``ready[index - 1]`` was sent.
            broken = ConnectionLost(error_text(exc))
            if index > start and index - 1 not in done:
                yield ready[index - 1].id, broken, time.monotonic()
            breaks += 1
            if index == start or breaks > MAX_RECONNECTS:
                for envelope in ready[index:]:
                    yield envelope.id, broken, time.monotonic()
                break


def _reset_session(conn) -> None:
    """RSET after a message abandoned half-way; a connection that cannot take it raises
    OSError / SMTPException, which reopens it (``ship``)."""
    if conn.host is not None:
        conn.host.rset()


# Answers on the wire: exceptions with their own __init__ do not survive pickling reliably,
# so a refusal travels as plain (kind, code, text) and is rebuilt on the other side.
def to_wire(answer: str | SmtpRefusal | ConnectionLost) -> str | tuple[str, int, str]:
    """A picklable form of an answer: the reply text, or (kind, code, text)."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, NotOffered):
        return ("not-offered", 0, str(answer))
    if isinstance(answer, SmtpRefusal):
        error = answer.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return ("refused", answer.smtp_code, text)
    return ("lost", 0, str(answer))


def from_wire(wire: str | tuple[str, int, str]) -> str | SmtpRefusal | ConnectionLost:
    """The answer ``to_wire`` gave the form of."""
    if isinstance(wire, str):
        return wire
    kind, code, text = wire
    if kind == "not-offered":
        return NotOffered(text)
    if kind == "refused":
        return SmtpRefusal(code, text.encode())
    return ConnectionLost(text)


class _LostRows:
    """``id in lost`` for ``ship``: first reads what the parent sent meanwhile (its "lost"
    messages); raises ParentGone when the parent's end is closed."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.ids: set[int] = set()

    def __contains__(self, oid: object) -> bool:
        try:
            while self.conn.poll(0):
                kind, ids = self.conn.recv()
                if kind == "lost":
                    self.ids.update(ids)
        except (EOFError, OSError) as exc:
            raise ParentGone() from exc
        return oid in self.ids


def _app_for(settings: dict[str, Any]) -> Flask:
    """A bare app with ``settings`` and Flask-Mail: what ``smtp_connection`` reads."""
    app = Flask("portal.notify.sender")
    app.config.update(settings, MAIL_SUPPRESS_SEND=False)
    Mail(app)
    return app


def serve(conn: Connection) -> None:
    """The child's loop: send each batch received, answer per message; return on EOF or when
    the parent is gone mid-batch."""
    app: Flask | None = None
    settings: dict[str, Any] | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "batch":
            continue  # "lost" about a batch already done
        _kind, batch_settings, envelopes = message
        lost = _LostRows(conn)
        answered: set[int] = set()
        try:
            _answer(conn, TOOK)  # before anything is sent: the parent may hand it over again
            if app is None or batch_settings != settings:
                app, settings = _app_for(batch_settings), batch_settings
            with app.app_context(), closing(ship(envelopes, lost)) as answers:
                for oid, answer, mono in answers:
                    _answer(conn, (oid, to_wire(answer), mono))
                    answered.add(oid)
            _answer(conn, None)
        except ParentGone:
            return
        except Exception as exc:  # noqa: BLE001 (a bug here must not hide its reason)
            # The rows not answered yet are retried with the reason, not with "the sender
            # process stopped"; the traceback goes to stderr (the worker's journal).
            traceback.print_exc()
            broken = ("lost", 0, f"the sender process failed: {error_text(exc)}")
            try:
                for envelope in envelopes:
                    if envelope.id not in answered and envelope.id not in lost.ids:
                        _answer(conn, (envelope.id, broken, time.monotonic()))
                _answer(conn, None)
            except ParentGone:
                return


def _answer(conn: Connection, message: object) -> None:
    try:
        conn.send(message)
    except OSError as exc:  # the parent is gone: nobody would record what is sent
        raise ParentGone() from exc


def main(argv: Sequence[str]) -> int:
    """``python -m portal.notify.sender FD``: serve the connection on file descriptor FD."""
    # The process lives exactly as long as its parent's end of the socket: Ctrl-C in a
    # terminal or a service manager's SIGTERM to the process group is for the parent, which
    # finishes the batch in hand (this process sending it) and then closes its end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(Connection(int(argv[0])))
    return 0


if __name__ == "__main__":  # `python -m portal.notify.sending FD`, by hand
    # Run from the module's real name, so pickled envelopes are of the same class as ours.
    from portal.notify import sending as _module

    sys.exit(_module.main(sys.argv[1:]))
