"""The sender process: the SMTP conversation of a batch, in a child process of its own.

The dispatcher renders, claims and records in its process while the batch before is being
sent (``portal.notify.dispatch``). A thread beside it would wait for the interpreter after
every SMTP reply (up to Python's 5 ms switch interval), so the conversation runs in a child
process instead: this interpreter with ``-P`` and this process's import path
(``child_command``), over a socket pair, started once per ``Sender`` and kept for the next
batches (``leased_sender`` pools them per process; a fork lets go of its parent's).

What travels, pickled by ``multiprocessing.connection.Connection``:

- parent → child: ``("batch", settings, envelopes)``: the ``MAIL_*`` settings of the
  connection (``mail_settings()``) and a list of ``smtp.Envelope``; ``("lost", ids)``: rows
  of the batch in flight that another worker took over, not to be sent.
- child → parent: ``TOOK`` once it has read a batch, before sending anything; then
  ``(row id, answer, time.monotonic())`` per message, ``answer`` being the reply text or a
  ``(kind, code, text)`` tuple (``to_wire``/``from_wire``); ``None`` when the batch is done.

The child exits when the parent's end closes (EOF), at once, even mid-batch: a parent that
died (kill -9) cannot record what it sends, so it sends no more than the message in hand. A
child that dies before ``TOOK`` costs nothing (the batch goes to a new one); after it, its
unanswered rows are retried; one silent beyond ``silence_limit`` is killed and its rows
retried. An envelope that fails for a reason of its own is answered with that reason and
the batch goes on. The protocol relies on the answers of a batch fitting in the socket's
buffers while the parent renders the next batch (about 2,000 answers: ``DISPATCH_BATCH_SIZE``
is 200); ``"lost"`` messages are sent while the parent reads the answers.

This module imports no database, model or template module, so the child starts fast.
"""

from __future__ import annotations

import atexit
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Container, Generator, Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing, contextmanager
from multiprocessing.connection import Connection
from typing import Any

from flask import Flask, current_app
from flask_mail import Mail

from portal.notify.smtp import Envelope, NotOffered, SmtpRefusal, smtp_connection, transmit

MAX_RECONNECTS = 3  # a batch reopens a broken connection this often, then leaves the rest

# The settings ``smtp_connection`` reads: Flask-Mail's connection settings and the timeout.
MAIL_SETTINGS = (
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEBUG",
    "MAIL_TIMEOUT_SECONDS",
)

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


def mail_settings() -> dict[str, Any]:
    """The current app's settings the sender process needs to connect ({name: value}),
    as Flask-Mail read them (so defaults such as MAIL_DEBUG follow the app)."""
    mail = current_app.extensions["mail"]
    return {
        "MAIL_SERVER": mail.server,
        "MAIL_PORT": mail.port,
        "MAIL_USE_TLS": mail.use_tls,
        "MAIL_USE_SSL": mail.use_ssl,
        "MAIL_USERNAME": mail.username,
        "MAIL_PASSWORD": mail.password,
        "MAIL_DEBUG": mail.debug,
        "MAIL_TIMEOUT_SECONDS": current_app.config.get("MAIL_TIMEOUT_SECONDS", 30),
    }


# The child ---------------------------------------------------------------------------------
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


# The parent ---------------------------------------------------------------------------------
def silence_limit(settings: dict[str, Any]) -> float:
    """Seconds a sender process may stay silent mid-batch before it is taken for stuck: every
    SMTP step waits at most ``MAIL_TIMEOUT_SECONDS``, and between two answers there are at
    most ten of them (QUIT of a broken connection; connect, EHLO, STARTTLS, EHLO, AUTH of the
    next; MAIL, RCPT, DATA and the message), plus 5 s to spare."""
    return 10 * float(settings.get("MAIL_TIMEOUT_SECONDS") or 30) + 5


class Outgoing:
    """One batch handed to a sender process: a future-like handle on its answers.

    A child that dies before it took the batch (``TOOK``) never read it: the batch is handed
    to a new child once. A child silent for longer than ``silence_limit`` (stopped, or stuck
    where no socket timeout reaches, such as a name lookup) is killed, and the rows it did not
    answer are retried, so the dispatcher never waits for ever and its leases lapse.
    """

    def __init__(
        self,
        sender: Sender | None,
        envelopes: Sequence[Envelope],
        settings: dict[str, Any] | None = None,
    ):
        self.sender = sender
        self.envelopes = list(envelopes)
        self.settings = settings or {}
        self.waiting = {envelope.id: None for envelope in envelopes}  # ordered: not answered
        self.events: list[Event] = []
        self.done = not envelopes
        self.taken = False  # the child acknowledged the batch
        self.handed_again = False
        self.silence = silence_limit(self.settings)
        self.last_heard = time.monotonic()

    def result(self, timeout: float | None = None) -> list[Event]:
        """Every (row id, answer, ``time.monotonic()``) of the batch, in sending order, once
        the batch is done; answers are ``str`` (the reply to DATA), ``SmtpRefusal`` (a
        ``NotOffered`` included) or ``ConnectionLost``. Raises
        ``concurrent.futures.TimeoutError`` when it is not done within ``timeout`` seconds
        (answers read so far are kept). Rows forgotten (``forget``) get no answer. If the
        sender process stops, or stays silent beyond ``silence_limit``, each row not answered
        yet gets a ``ConnectionLost``.

        CLOCK_MONOTONIC is system-wide on Linux (and macOS's is too), so the child's
        readings compare with this process's: ``dispatch.clock_times`` anchors hold."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            assert self.sender is not None and self.sender.conn is not None
            conn = self.sender.conn
            now = time.monotonic()
            left = self.last_heard + self.silence - now
            if deadline is not None:
                left = min(left, deadline - now)
            try:
                ready = conn.poll(max(0.0, left))
                message = conn.recv() if ready else None
            except (EOFError, OSError):
                if not self.taken and not self.handed_again:
                    self._hand_again()  # it died before reading the batch
                    continue
                self._stopped()
                break
            if not ready:
                if time.monotonic() - self.last_heard >= self.silence:
                    self._stopped(silent=True)
                    break
                raise FutureTimeout()
            self.last_heard = time.monotonic()
            if message == TOOK:
                self.taken = True
                continue
            if message is None:
                self.done = True
                break
            oid, wire, mono = message
            if oid in self.waiting:  # else forgotten meanwhile: another worker's row now
                del self.waiting[oid]
                self.events.append((oid, from_wire(wire), mono))
        return self.events

    def forget(self, ids: set[int] | frozenset[int]) -> None:
        """Do not send the rows ``ids`` (another worker took them over) if not sent yet;
        their answers, if they come, are dropped."""
        ids = {oid for oid in ids if oid in self.waiting}
        if self.done or not ids:
            return
        for oid in ids:
            del self.waiting[oid]
        assert self.sender is not None and self.sender.conn is not None
        try:
            self.sender.conn.send(("lost", sorted(ids)))
        except OSError:
            pass  # the process is gone; result() finds out

    def _hand_again(self) -> None:
        """Hand the batch (the rows still held) to a new sender process."""
        assert self.sender is not None
        self.handed_again = True
        self.sender.close(wait=1.0)
        self.sender._spawn()
        self.last_heard = time.monotonic()
        pending = [e for e in self.envelopes if e.id in self.waiting]
        self.sender._send(self, pending)

    def _stopped(self, *, silent: bool = False) -> None:
        assert self.sender is not None
        if silent and self.sender.process is not None:
            self.sender.process.kill()
        status = self.sender.close(wait=5.0)
        why = (
            f"the sender process answered nothing for {self.silence:.0f} s and was stopped"
            if silent
            else f"the sender process stopped (exit status {status})"
        )
        lost = ConnectionLost(f"{why} before the mail server's answer came back")
        self.events += [(oid, lost, time.monotonic()) for oid in self.waiting]
        self.waiting.clear()
        self.done = True


class Sender:
    """A sender process and this process's end of its socket; one batch at a time. The
    process is started on the first batch, and again on the next batch after it stopped."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.owner = os.getpid()
        self.current: Outgoing | None = None
        _every.add(self)

    @property
    def busy(self) -> bool:
        """A batch was started and its answers not all read."""
        return self.current is not None and not self.current.done

    def start(self, envelopes: Sequence[Envelope], settings: dict[str, Any]) -> Outgoing:
        """Hand ``envelopes`` to the sender process (started if need be), to be sent with
        ``settings`` (``mail_settings()``); returns the handle on their answers. Raises
        RuntimeError while the previous batch's answers are not all read."""
        if self.busy:
            raise RuntimeError("a sender sends one batch at a time")
        if not envelopes:
            return Outgoing(None, ())
        if not self._alive():
            self.close()
            self._spawn()
        outgoing = self.current = Outgoing(self, envelopes, settings)
        self._send(outgoing, envelopes)
        return outgoing

    def _alive(self) -> bool:
        """The process runs and its end of the socket is open: an idle child sends nothing,
        so anything readable now is its EOF."""
        if self.process is None or self.conn is None or self.process.poll() is not None:
            return False
        try:
            return not self.conn.poll(0)
        except OSError:
            return False

    def _send(self, outgoing: Outgoing, envelopes: Sequence[Envelope]) -> None:
        assert self.conn is not None
        try:
            self.conn.send(("batch", outgoing.settings, list(envelopes)))
        except OSError:
            pass  # the process is gone: result() reads the EOF

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            fd = theirs.fileno()
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
                child_command(fd), pass_fds=(fd,), stdin=subprocess.DEVNULL
            )
            self.conn = Connection(ours.detach())

    def close(self, wait: float = 5.0) -> int | None:
        """Close this end (the process exits at EOF, after the message in hand), wait up to
        ``wait`` seconds for it, then kill it; returns its exit status (None: none ran)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        process, self.process = self.process, None
        if process is None:
            return None
        try:
            return process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def child_command(fd: int) -> list[str]:
    """The sender process's command line: this interpreter, isolated from the working
    directory (``-P``: ``python -m`` would put it first on the import path, and a worker's
    working directory may be writable by others), importing from exactly this process's
    import path (a checkout, a virtualenv, a zipapp alike), then ``main([fd])``."""
    path = [p or os.getcwd() for p in sys.path]  # "" is the parent's own working directory
    code = (
        "import sys; sys.path[:] = " + repr(path) + "; "
        "from portal.notify.sender import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-P", "-c", code, str(fd)]


# The pool: one sender per dispatcher running at once in this process -------------------------
_idle: list[Sender] = []
_idle_lock = threading.Lock()
_every: weakref.WeakSet[Sender] = weakref.WeakSet()  # for a fork to let go of


def _after_fork_in_child() -> None:
    """A forked process (gunicorn's workers, a test) inherits this process's ends of every
    sender's socket: it closes its copies, so that a sender process still sees EOF when its
    real parent goes, and starts its own senders when it dispatches."""
    global _idle_lock
    _idle_lock = threading.Lock()
    _idle.clear()
    for sender in list(_every):
        if sender.conn is not None:
            sender.conn.close()
        sender.conn = None
        sender.process = None  # not this process's child
        sender.current = None


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def leased_sender() -> Iterator[Sender]:
    """A sender for one dispatch run, from this process's idle ones (or a new one), given
    back afterwards; one whose batch was left unread (the run failed) is closed instead."""
    with _idle_lock:
        # A forked child inherits the list; the processes in it are its parent's, not its own.
        _idle[:] = [s for s in _idle if s.owner == os.getpid()]
        sender = _idle.pop() if _idle else Sender()
    try:
        yield sender
    finally:
        if sender.busy:
            sender.close()
        else:
            with _idle_lock:
                _idle.append(sender)


def idle_pids() -> list[int]:
    """The process ids of this process's idle sender processes (for measurements:
    ``bench/fanout.py`` reads their peak memory before closing them)."""
    with _idle_lock:
        return [s.process.pid for s in _idle if s.owner == os.getpid() and s.process is not None]


@atexit.register
def close_idle() -> None:
    """Close this process's idle senders (their processes exit)."""
    with _idle_lock:
        senders = [s for s in _idle if s.owner == os.getpid()]
        _idle.clear()
    for sender in senders:
        sender.close(wait=2.0)


if __name__ == "__main__":  # `python -m portal.notify.sender FD`, by hand
    # Run from the module's real name, so pickled envelopes are of the same class as ours.
    from portal.notify import sender as _module

    sys.exit(_module.main(sys.argv[1:]))
