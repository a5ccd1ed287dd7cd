"""The sender process (issue #19): the SMTP conversation of a batch runs in a child process,
against a real SMTP server. Answers come back as the thread's did; rows taken over are not
sent; a crashed child loses no row; a child whose parent is gone stops at once; concurrent
dispatchers get a child each; and the interpreter's switch interval is never touched."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from flask_mail import Message
from sqlalchemy import select

from portal.extensions import db
from portal.notify.models import PENDING, SENT, OutboxMessage
from portal.notify.sender import Sender, leased_sender, mail_settings
from portal.notify.sending import TOOK
from portal.notify.smtp import Envelope, NotOffered, SmtpRefusal
from tests.notify.conftest import Sink, envelope


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_an_envelope_goes_through_the_sender_process_and_the_reply_comes_back(app, sender, sink):
    msg = Message(
        subject="Notice 7",
        sender="notices@forewarn.example",
        recipients=["ops@tapai.example"],
        body="Hi",
    )
    with app.app_context():
        before = time.monotonic()
        [(oid, answer, mono)] = sender.start([Envelope.of(7, msg)], mail_settings()).result(10)
        after = time.monotonic()
    assert (oid, answer) == (7, "250 2.0.0 Ok: queued as SINK00001")
    assert before < mono < after  # the child's monotonic clock is this process's
    assert sink.received[0]["Subject"] == "Notice 7"
    assert sink.envelopes == [("notices@forewarn.example", ["ops@tapai.example"])]
    assert sender.process is not None and sender.process.poll() is None  # kept for the next


def test_refusals_come_back_as_the_outcomes_they_were(app, sender, sink):
    sink.replies["later@tapai.example"] = ["451 4.3.0 Try again later"]
    sink.replies["nobody@tapai.example"] = ["550 5.1.1 No such user here"]
    batch = [
        envelope(1, "later@tapai.example"),
        envelope(2, "nobody@tapai.example"),
        envelope(3, bad_headers=True),
        envelope(4),
    ]
    with app.app_context():
        answers = {
            oid: answer for oid, answer, _ in sender.start(batch, mail_settings()).result(10)
        }
    assert isinstance(answers[1], SmtpRefusal) and answers[1].temporary
    assert str(answers[1]) == "451 4.3.0 Try again later"
    assert isinstance(answers[2], SmtpRefusal) and not answers[2].temporary
    assert str(answers[2]) == "550 5.1.1 No such user here"
    assert str(answers[3]) == "550 refused locally: header injection in the message"
    assert answers[4].startswith("250 ")  # the session stayed usable after the refusals
    assert len(sink.received) == 1


def test_an_internationalised_address_without_smtputf8_comes_back_not_offered(
    app, sender, smtp_server
):
    smtp_server.stop()
    smtp_server.sink = Sink()
    smtp_server.start(enable_SMTPUTF8=False)
    with app.app_context():
        [(_, answer, _)] = sender.start(
            [envelope(1, "用户@xn--fsqu00a.xn--4rr70v", smtputf8=True)], mail_settings()
        ).result(10)
    assert isinstance(answer, NotOffered) and not answer.temporary
    assert "does not offer SMTPUTF8" in str(answer)
    assert smtp_server.sink.received == []


def test_rows_taken_over_meanwhile_are_not_sent(app, sender, sink):
    sink.delay = 0.2
    with app.app_context():
        outgoing = sender.start(
            [envelope(i, f"c{i}@tapai.example") for i in (1, 2, 3, 4)], mail_settings()
        )
        outgoing.forget({3})
        answered = [oid for oid, _a, _m in outgoing.result(10)]
    assert answered == [1, 2, 4]
    assert sorted(to for _s, [to] in sink.envelopes) == [
        "c1@tapai.example",
        "c2@tapai.example",
        "c4@tapai.example",
    ]


def test_a_row_taken_over_while_its_batch_is_being_sent_is_not_sent_by_this_worker(
    app, published, dispatch, sink, monkeypatch
):
    """The lease renewal finds the batch's last row taken over by another worker; the
    sender process, told so, skips it, and its outcome is not recorded here."""
    from portal.notify import dispatch as dispatch_module

    app.config["DISPATCH_LEASE_SECONDS"] = 1  # renewed every 0.5 s while the batch is sent
    sink.delay = 0.3
    renew = dispatch_module.renew
    taken: list[int] = []

    def renew_losing_the_last_row(ids, **kw):
        held = renew(ids, **kw)
        if not taken:
            taken.append(max(ids))
        return held - set(taken)

    monkeypatch.setattr(dispatch_module, "renew", renew_losing_the_last_row)
    result = dispatch()
    assert result.lease_lost == 1 and result.sent == result.claimed - 1
    [lost] = [r for r in rows() if r.id == taken[0]]
    assert lost.recipient not in [to for _s, [to] in sink.envelopes]
    assert lost.status != SENT and len(sink.received) == result.sent


def test_a_crashed_sender_process_loses_no_row_and_the_next_run_starts_a_new_one(
    app, published, dispatch, sink, clock, monkeypatch
):
    sink.delay = 0.2
    pids = []
    start = Sender.start

    def start_then_crash(self, envelopes, settings):
        outgoing = start(self, envelopes, settings)
        pids.append(self.process.pid)
        if len(pids) == 1:
            while not outgoing.taken:  # once it has read the batch (before: handed again)
                try:
                    outgoing.result(0.02)
                except FutureTimeout:
                    pass
            self.process.kill()
        return outgoing

    monkeypatch.setattr(Sender, "start", start_then_crash)
    first = dispatch()
    assert first.sent + first.retrying == first.claimed and first.retrying >= 1
    assert len(sink.received) == first.sent
    retried = [r for r in rows() if r.status == PENDING and r.attempts == 1]
    assert len(retried) == first.retrying
    assert all(r.last_error.startswith("the sender process stopped") for r in retried)
    clock.advance(dt.timedelta(hours=1))
    second = dispatch()
    assert second.sent == 5 - first.sent
    assert all(r.status == SENT for r in rows()) and len(sink.received) == 5
    assert len(set(pids)) == 2  # a fresh process for the run after the crash


def test_the_sender_process_stops_at_once_when_its_parent_is_gone(app, sender, sink):
    """A parent killed mid-batch (its end of the socket closes) cannot record what is sent:
    the child sends no more than the message in hand, and exits."""
    sink.delay = 0.5
    with app.app_context():
        outgoing = sender.start(
            [envelope(i, f"c{i}@tapai.example") for i in range(1, 7)], mail_settings()
        )
    assert sender.conn.poll(10) and sender.conn.recv() == TOOK  # it read the batch
    assert sender.conn.poll(10)  # the first message's answer: the child is mid-batch now
    process = sender.process
    sender.conn.close()
    sender.conn = None
    assert process.wait(timeout=5) == 0
    assert len(sink.received) <= 2  # the first, and the one in hand when the parent went
    assert not outgoing.done


def test_two_dispatchers_at_once_get_a_sender_process_each(app, sink):
    sink.delay = 0.3
    barrier = threading.Barrier(2)
    pids: dict[str, int] = {}

    def dispatcher(name: str) -> None:
        with app.app_context(), leased_sender() as s:
            barrier.wait(5)
            s.start([envelope(len(name), f"{name}@tapai.example")], mail_settings()).result(10)
            pids[name] = s.process.pid
            barrier.wait(5)  # both still hold theirs

    threads = [threading.Thread(target=dispatcher, args=(n,)) for n in ("a", "bb")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert len(pids) == 2 and pids["a"] != pids["bb"]
    assert len(sink.received) == 2
    with leased_sender() as again:  # given back: the next run reuses one of them
        assert again.process.pid in pids.values()


def test_a_dispatch_run_leaves_the_interpreter_switch_interval_at_pythons_default(
    app, published, sink
):
    """`forewarn dispatch` sends through its sender process and changes no interpreter
    setting (the worker's loop is checked in test_workers)."""
    done = app.test_cli_runner().invoke(args=["dispatch", "--quiet"])
    assert done.exit_code == 0, done.output
    assert len(sink.received) == 5
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_the_sender_module_imports_no_database_model_or_template_module():
    import subprocess

    code = (
        "import sys, portal.notify.sending; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'flask_sqlalchemy', "
        "'portal.models', 'portal.notify.models', 'portal.notify.render', 'portal.templating'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
