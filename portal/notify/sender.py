"""The sender process, seen from the dispatcher: one per dispatch run, pooled per process.

The dispatcher renders, claims and records in its process while the batch before is being
sent (``portal.notify.dispatch``). A thread beside it would wait for the interpreter after
every SMTP reply (up to Python's 5 ms switch interval), so the conversation runs in a child
process instead (``portal.notify.sending``): this interpreter with ``-P`` and this process's
import path (``child_command``), over a socket pair, started once per ``Sender`` and kept
for the next batches (``leased_sender`` pools them per process; a fork lets go of its
parent's).

A child that dies before it took a batch costs nothing (the batch goes to a new one); after
it, its unanswered rows are retried; one silent beyond ``silence_limit`` is killed and its
rows retried. The protocol relies on the answers of a batch fitting in the socket's buffers
while the parent renders the next batch (about 2,000 answers: ``DISPATCH_BATCH_SIZE`` is
200); ``"lost"`` messages are sent while the parent reads the answers.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from flask import current_app

from portal.notify.sending import TOOK, ConnectionLost, Event, from_wire
from portal.notify.smtp import Envelope


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
        "from portal.notify.sending import main; sys.exit(main(sys.argv[1:]))"
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
