"""The sender process (portal.notify.sender) under faults, as an operator, a newcomer and an
attacker would meet them: children killed, stopped or dying between batches, a poisoned
envelope, a writable working directory, forks, big batches, leaks. Each test states the
behaviour that holds; the failing ones of a first version were fixed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from flask_mail import Message
from sqlalchemy import select

from portal.extensions import db
from portal.notify import sender as sender_module
from portal.notify.models import PENDING, SENT, OutboxMessage
from portal.notify.sender import Sender, leased_sender, mail_settings
from portal.notify.sending import ConnectionLost
from portal.notify.smtp import Envelope, SmtpRefusal
from tests.notify.conftest import SmtpServer, envelope


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.fixture
def spawned(monkeypatch) -> list[int]:
    """The pids of the sender processes this test starts (other tests' children, a browser's
    or a demo's, are none of its business)."""
    pids: list[int] = []
    spawn = Sender._spawn

    def recording(self):
        spawn(self)
        pids.append(self.process.pid)

    monkeypatch.setattr(Sender, "_spawn", recording)
    return pids


def left_behind(pids: list[int]) -> list[tuple[int, str]]:
    """Those of ``pids`` still in the process table, as (pid, state): running, or zombies
    nobody waited for."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                out.append((pid, f.read().rsplit(")", 1)[1].split()[0]))
        except OSError:
            pass
    return out


def assert_delivery_invariants(sink) -> None:
    """No row recorded SENT that the sink lacks; no row left claimed; duplicates in the sink
    share the Message-ID (the same message)."""
    all_rows = rows()
    received_ids = Counter(m["Message-ID"] for m in sink.received)
    for r in all_rows:
        assert r.claimed_by is None and r.claimed_until is None, f"row {r.id} left claimed"
        if r.status == SENT:
            assert received_ids[r.message_id] >= 1, f"row {r.id} SENT but never reached the sink"
    by_rcpt: dict[str, set[str]] = {}
    for m in sink.received:
        by_rcpt.setdefault(m["To"], set()).add(m["Message-ID"])
    assert all(len(ids) == 1 for ids in by_rcpt.values()), by_rcpt


def wait_taken(outgoing, seconds: float = 10) -> None:
    """Until the sender process has said it took the batch (answers read meanwhile kept)."""
    deadline = time.monotonic() + seconds
    while not outgoing.taken and time.monotonic() < deadline:
        try:
            outgoing.result(0.02)
        except FutureTimeout:
            pass
    assert outgoing.taken


# 1. Child killed at various moments ---------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_child_killed_before_its_first_answer_all_rows_come_back_lost(app, sender, sink, sig):
    sink.delay = 0.3
    with app.app_context():
        outgoing = sender.start(
            [envelope(i, f"c{i}@tapai.example") for i in range(1, 5)], mail_settings()
        )
        wait_taken(outgoing)  # it read the batch: the first message may be on its way
        os.kill(sender.process.pid, sig)
        events = outgoing.result(10)
    assert [oid for oid, _a, _m in events] == [1, 2, 3, 4]  # each row answered exactly once
    assert all(isinstance(a, ConnectionLost) for _o, a, _m in events)
    assert len(sink.received) <= 1  # at most the one in hand


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_child_killed_before_it_took_the_batch_costs_the_batch_nothing(app, sender, sink, sig):
    """It never read the batch, so nothing of it can have been sent: a new child gets it."""
    with app.app_context():
        first = sender.process  # none yet: started by the batch
        outgoing = sender.start(
            [envelope(i, f"c{i}@tapai.example") for i in range(1, 5)], mail_settings()
        )
        assert first is None
        os.kill(sender.process.pid, signal.SIGSTOP)  # cannot read the batch in time
        os.kill(sender.process.pid, sig)
        os.kill(sender.process.pid, signal.SIGCONT)
        events = outgoing.result(10)
    assert [oid for oid, _a, _m in events] == [1, 2, 3, 4]
    assert all(isinstance(a, str) and a.startswith("250") for _o, a, _m in events), events
    assert len(sink.received) == 4


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_idle_pooled_child_that_died_is_replaced_for_the_next_batch(app, sink, sig):
    with app.app_context():
        with leased_sender() as s:
            s.start([envelope(1, "a@tapai.example")], mail_settings()).result(10)
            first = s.process.pid
        os.kill(first, sig)
        time.sleep(0.3)
        with leased_sender() as s:
            [(oid, answer, _)] = s.start([envelope(2, "b@tapai.example")], mail_settings()).result(
                10
            )
            assert s.process.pid != first
    assert oid == 2 and isinstance(answer, str) and answer.startswith("250")
    assert len(sink.received) == 2


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_child_killed_mid_batch_in_a_dispatch_keeps_the_delivery_invariants(
    app, published, dispatch, sink, clock, monkeypatch, sig
):
    sink.delay = 0.25
    start = Sender.start
    killed = []

    def start_then_kill_mid_batch(self, envelopes, settings):
        outgoing = start(self, envelopes, settings)
        if not killed:
            pid = self.process.pid
            threading.Timer(0.4, os.kill, (pid, sig)).start()  # after ~1 answer, mid-DATA
            killed.append(pid)
        return outgoing

    monkeypatch.setattr(Sender, "start", start_then_kill_mid_batch)
    first = dispatch()
    assert first.retrying >= 1
    assert_delivery_invariants(sink)
    clock.advance(dt.timedelta(hours=1))
    dispatch()
    assert all(r.status == SENT for r in rows())
    assert_delivery_invariants(sink)
    assert {m["To"] for m in sink.received} == {r.recipient for r in rows()}


# 2. Child hanging ---------------------------------------------------------------------------
def test_a_stalling_smtp_server_is_bounded_by_the_mail_timeout(app, published, dispatch, sink):
    app.config["MAIL_TIMEOUT_SECONDS"] = 1
    for r in rows():
        sink.stall[r.recipient.lower()] = 30
    began = time.monotonic()
    result = dispatch()
    took = time.monotonic() - began
    assert took < 15, took
    assert result.retrying == result.claimed and result.sent == 0
    assert all(r.status == PENDING and r.claimed_by is None for r in rows())


@pytest.fixture
def stopped(app, monkeypatch) -> list[int]:
    """The first sender process to get a batch is stopped (SIGSTOP) right after; its pid is
    put in the list. One-second mail timeouts and three-second leases."""
    app.config["MAIL_TIMEOUT_SECONDS"] = 1
    app.config["DISPATCH_LEASE_SECONDS"] = 3
    start = Sender.start
    pids: list[int] = []

    def start_then_stop(self, envelopes, settings):
        outgoing = start(self, envelopes, settings)
        if not pids:
            os.kill(self.process.pid, signal.SIGSTOP)
            pids.append(self.process.pid)
        return outgoing

    monkeypatch.setattr(Sender, "start", start_then_stop)
    return pids


def test_a_stopped_sender_process_does_not_hang_the_dispatcher_forever(
    app, published, dispatch, sink, stopped, monkeypatch
):
    """A sender process that stops answering (SIGSTOP, cgroup freezer, stuck in the kernel,
    getaddrinfo that ignores the socket timeout...) must not keep its batch claimed forever:
    the dispatcher renews the leases while it waits, so no other worker ever takes the rows
    over. With MAIL_TIMEOUT_SECONDS=1 it is killed once silent for 15 s (10 timeouts + 5 s,
    ``sender.silence_limit``) and the rows are recorded as retried."""
    from portal.notify import dispatch as dispatch_module

    renew = dispatch_module.renew
    renewals = []

    def counting_renew(ids, **kw):
        renewals.append(len(ids))
        return renew(ids, **kw)

    monkeypatch.setattr(dispatch_module, "renew", counting_renew)
    hung = []

    def watchdog():
        if not done.wait(25):
            hung.append(True)
            os.kill(stopped[0], signal.SIGKILL)  # let the test end

    done = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        result = dispatch()
    finally:
        done.set()
    assert not hung, (
        "the dispatcher waited 25 s (25 MAIL timeouts) on a stopped sender process, "
        f"renewing the batch's leases {len(renewals)} times meanwhile (claimed forever)"
    )
    # The third parties' four rows were in the batch (the first party's waits for them).
    assert result.retrying == result.claimed == 4 and result.sent == 0
    tried = [row for row in rows() if row.attempts]
    assert len(tried) == 4
    for row in tried:  # given back, to be retried, with the reason
        assert row.status == PENDING and row.claimed_by is None
        assert row.last_error.startswith("the sender process answered nothing for 15 s")


# 3. Settings and secrets --------------------------------------------------------------------
def test_mail_settings_changing_between_batches_reach_the_same_child(app, sender, sink):
    other = SmtpServer()
    other.start()
    try:
        with app.app_context():
            settings = mail_settings()
            sender.start([envelope(1, "a@tapai.example")], settings).result(10)
            pid = sender.process.pid
            moved = {**settings, "MAIL_PORT": other.port}
            [(_, answer, _)] = sender.start([envelope(2, "b@tapai.example")], moved).result(10)
        assert sender.process.pid == pid
        assert isinstance(answer, str) and answer.startswith("250")
        assert len(sink.received) == 1 and len(other.sink.received) == 1
    finally:
        other.stop()


def test_the_mail_password_is_not_on_the_child_command_line_or_environment(app, sender, sink):
    with app.app_context():
        settings = {**mail_settings(), "MAIL_PASSWORD": "s3cret-Pa55"}
        sender.start([envelope(1)], settings).result(10)
    pid = sender.process.pid
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"s3cret" not in f.read()
    with open(f"/proc/{pid}/environ", "rb") as f:
        assert b"s3cret" not in f.read()


# 4. Attacker: the child's import path ---------------------------------------------------------
def test_the_sender_process_does_not_import_code_from_the_working_directory(
    app, sender, sink, tmp_path, monkeypatch
):
    """`python -m` puts the current directory first on sys.path: a worker started in a
    directory others can write to (or holding another checkout) runs that directory's
    flask.py / portal/ in its sender process, which holds MAIL_PASSWORD. The parent, started
    by the `forewarn` console script, does not have the cwd on its path."""
    marker = tmp_path / "pwned"
    (tmp_path / "flask.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported from cwd')\nraise ImportError('shadowed')\n"
    )
    monkeypatch.chdir(tmp_path)
    with app.app_context():
        [(_, answer, _)] = sender.start([envelope(1)], mail_settings()).result(10)
    assert not marker.exists(), "the sender process imported flask.py from the working directory"
    assert isinstance(answer, str) and answer.startswith("250"), answer


# 5. Poison envelopes --------------------------------------------------------------------------
def test_one_envelope_that_raises_a_non_smtp_error_does_not_take_the_batch_down(app, sender, sink):
    """sanitize_address raises UnicodeEncodeError (not OSError/SMTPException) for a non-ASCII
    local part sent without SMTPUTF8, e.g. MAIL_DEFAULT_SENDER = "bénachrichtigung@...". The
    child dies with a traceback on stderr; every later row of the batch is reported as
    'the sender process stopped (exit status 1)', and the real reason is lost."""
    batch = [
        envelope(1, "a@tapai.example"),
        envelope(2, "b@tapai.example", sender="bénachrichtigung@forewarn.example"),
        envelope(3, "c@tapai.example"),
    ]
    with app.app_context():
        answers = {o: a for o, a, _ in sender.start(batch, mail_settings()).result(10)}
    assert isinstance(answers[1], str)
    assert isinstance(answers[3], str), answers[3]  # the rest of the batch goes out
    assert "exit status" not in str(answers[2]), answers[2]


def test_header_injection_in_a_recipient_is_refused_and_smuggles_no_recipient(app, sender, sink):
    msg = Message(
        subject="Notice",
        sender="notices@forewarn.example",
        recipients=["ops@tapai.example\r\nRCPT TO:<evil@attacker.example>"],
        body="Hi",
    )
    with app.app_context():
        [(_, answer, _)] = sender.start([Envelope.of(1, msg)], mail_settings()).result(10)
    assert isinstance(answer, SmtpRefusal) and answer.smtp_code == 550
    assert sink.received == []


def test_utf8_address_and_8bit_body_go_through_byte_for_byte(app, sender, sink, smtp_server):
    smtp_server.stop()
    smtp_server.start(enable_SMTPUTF8=True)
    to = "用户@例子.广告"
    payload = (
        f"From: notices@forewarn.example\r\nTo: {to}\r\nSubject: Grüße\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Wartung: Größere Änderung — 日本語\r\n.leading dot\r\n"
    ).encode()
    env = Envelope(
        1, "notices@forewarn.example", ("用户@xn--fsqu00a.xn--4rr70v",), True, False, payload
    )
    with app.app_context():
        [(_, answer, _)] = sender.start([env], mail_settings()).result(10)
    assert isinstance(answer, str) and answer.startswith("250"), answer
    [got] = sink.received
    assert "日本語" in got.get_content() and ".leading dot" in got.get_content()
    assert sink.envelopes[0][1] == ["用户@xn--fsqu00a.xn--4rr70v"]


# 6. Big batches and the pipe ------------------------------------------------------------------
def test_a_batch_larger_than_the_socket_buffers_with_lost_messages_meanwhile(app, sender, sink):
    big = b"X" * (3 * 1024 * 1024)
    batch = [
        envelope(i, f"c{i}@tapai.example", payload=envelope(i).payload + big + b"\r\n")
        for i in range(1, 21)
    ]  # 60 MB pickled
    with app.app_context():
        outgoing = sender.start(batch, mail_settings())
        forgotten = set(range(5, 21, 2))
        for oid in sorted(forgotten):
            outgoing.forget({oid})
        box: list = []
        t = threading.Thread(target=lambda: box.append(outgoing.result(60)), daemon=True)
        t.start()
        t.join(90)
    assert box, "deadlock: no result within 90 s"
    answered = [o for o, _a, _m in box[0]]
    assert set(answered) == set(range(1, 21)) - forgotten
    assert len(sink.received) <= 20


def test_a_child_that_died_just_before_the_next_batch_does_not_cost_the_batch_a_retry(app, sink):
    """The pooled idle child dies (OOM killer, operator) moments before the next batch:
    ``start`` sees it alive (not reaped yet), writes the batch into the socket, then reads
    EOF and reports every row ConnectionLost, so the whole batch waits a backoff though the
    child never read it. It could respawn and hand the batch over again."""
    with app.app_context():
        settings = mail_settings()
        lost = 0
        for i in range(10):
            with leased_sender() as s:
                s.start([envelope(100 + i)], settings).result(10)
                s.process.kill()
            with leased_sender() as s:
                events = s.start([envelope(200 + i, f"n{i}@tapai.example")], settings).result(10)
                lost += sum(isinstance(a, ConnectionLost) for _o, a, _m in events)
    assert lost == 0, f"{lost} of 10 batches came back ConnectionLost without being sent"


def test_a_lost_message_that_arrives_after_the_batch_ended_does_not_upset_the_next(
    app, sender, sink
):
    with app.app_context():
        settings = mail_settings()
        outgoing = sender.start(
            [envelope(1, "a@tapai.example"), envelope(2, "b@tapai.example")], settings
        )
        time.sleep(1.0)  # the child has sent both and its None; this side has not read them
        outgoing.forget({2})  # goes to the child after its batch ended
        assert [o for o, _a, _m in outgoing.result(10)] == [1]
        events = sender.start(
            [envelope(2, "b2@tapai.example"), envelope(3, "c@tapai.example")], settings
        ).result(10)
    assert [o for o, _a, _m in events] == [2, 3]  # id 2 again (a retry): sent, not skipped
    assert all(isinstance(a, str) for _o, a, _m in events)
    assert len(sink.received) == 4


# 7. Forking -----------------------------------------------------------------------------------
def test_a_fork_after_a_sender_was_pooled_does_not_keep_the_parents_sender_alive(app, sink):
    """gunicorn --preload / any fork after a dispatch: the forked process inherits this
    process's end of the socket, so closing it here is no EOF for the sender process, which
    then lives (and, mid-batch, keeps sending) as long as the fork does."""
    with app.app_context():
        with leased_sender() as s:
            s.start([envelope(1)], mail_settings()).result(10)
    pid = os.fork()
    if pid == 0:  # the "gunicorn worker": does its own thing for a while
        time.sleep(6)
        os._exit(0)
    try:
        with sender_module._idle_lock:
            sender_module._idle.remove(s)
        began = time.monotonic()
        status = s.close(wait=5.0)
        took = time.monotonic() - began
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert status == 0 and took < 2, (status, took)


def test_the_fork_gets_its_own_sender_and_sends_nothing_through_the_parents(app, sink):
    with app.app_context():
        with leased_sender() as s:
            s.start([envelope(1, "parent@tapai.example")], mail_settings()).result(10)
            parent_child = s.process.pid
        settings = mail_settings()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            with app.app_context(), leased_sender() as mine:
                [(_, answer, _)] = mine.start([envelope(2, "fork@tapai.example")], settings).result(
                    10
                )
                ok = mine.process.pid != parent_child and str(answer).startswith("250")
            os.write(w, b"ok" if ok else b"no")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    got = os.read(r, 10)
    os.close(r)
    assert status == 0 and got == b"ok"
    assert sorted(to for _s, [to] in sink.envelopes) == [
        "fork@tapai.example",
        "parent@tapai.example",
    ]


# 8. Leaks -------------------------------------------------------------------------------------
def test_no_fd_or_zombie_leak_over_many_runs_with_crashes(app, sink, spawned):
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    with app.app_context():
        settings = mail_settings()
        with leased_sender() as s:  # warm: one pooled sender exists
            s.start([envelope(0)], settings).result(10)
        before = fds()
        for i in range(1, 51):
            with leased_sender() as s:
                s.start([envelope(i, f"c{i}@tapai.example")], settings).result(10)
                if i % 5 == 0:
                    s.process.kill()  # dies idle; the next run replaces it
                    s.process.wait(5)  # (the race right after a kill: its own test above)
        time.sleep(0.2)
        with leased_sender() as s:
            s.start([envelope(99)], settings).result(10)
        after = fds()
    assert after <= before, (before, after)
    assert len(sink.received) == 52
    sender_module.close_idle()
    assert len(spawned) >= 10  # one after each of the 10 kills (the first may be pooled)
    assert left_behind(spawned) == []  # every one exited and was waited for


def test_a_dispatch_cli_run_leaves_no_sender_process_behind(app, published, spawned):
    """`forewarn dispatch` (in-process CLI runner): its pooled sender is closed by the atexit
    hook ``close_idle`` and leaves no process or zombie."""
    sender_module.close_idle()  # from earlier tests: this run starts its own
    done = app.test_cli_runner().invoke(args=["dispatch", "--quiet"])
    assert done.exit_code == 0, done.output
    assert len(spawned) == 1
    # in-process: the pooled sender stays until atexit; closing it leaves nothing
    sender_module.close_idle()
    assert left_behind(spawned) == []


# 9. Worker shutdown as systemd does it --------------------------------------------------------
def test_worker_stop_while_the_sender_process_is_stopped_returns(app, published, stopped):
    """systemd stop: the worker's stop event is set; the worker should return within a
    bounded time even if its sender process does not answer (here: SIGSTOP)."""
    from portal.notify.worker import run_worker

    stop = threading.Event()
    t = threading.Thread(target=run_worker, args=(app, stop), daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not stopped and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stopped
    stop.set()  # SIGTERM from systemd (the sender process ignores its own)
    t.join(20)
    hung = t.is_alive()
    if hung:
        os.kill(stopped[0], signal.SIGKILL)
        t.join(20)
    assert not hung, "the worker did not stop within 20 s of SIGTERM (systemd SIGKILLs at 90 s)"
