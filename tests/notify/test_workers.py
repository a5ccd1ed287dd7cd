"""Real worker processes: a worker killed mid-batch loses nothing (re-sent messages keep their
Message-ID), and on PostgreSQL four workers deliver every row exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select

from portal.clock import utcnow
from portal.extensions import db
from portal.notify.models import SENDING, SENT, OutboxMessage

CLI = "from portal.cli import main; main()"


def worker_env(app, tmp_path, **extra) -> dict:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "PORTAL_SECRET_KEY": app.config["SECRET_KEY"],
        "PORTAL_MAIL_SERVER": "127.0.0.1",
        "PORTAL_MAIL_PORT": str(app.config["MAIL_PORT"]),
        "PORTAL_BASE_URL": app.config["BASE_URL"],
        "PORTAL_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "PORTAL_REMINDER_OFFSETS_HOURS": "[]",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def many(world, make_contact):
    """The world's change published with 30 notice contacts in all."""
    from portal.changes.services import publish
    from tests.conftest import T0

    for i in range(25):
        make_contact(world.other, f"team{i}@other.example")
    publish(world.change, actor=world.engineer, now=T0)
    db.session.commit()
    return world


def all_rows():
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_nothing_and_resends_with_the_same_message_id(
    app, many, sink, dispatch, clock, tmp_path
):
    sink.delay = 0.05
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "dispatch", "--quiet"],
        env=worker_env(app, tmp_path, PORTAL_DISPATCH_BATCH_SIZE=100),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while len(sink.received) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    arrived_before = len(sink.received)
    rows = all_rows()
    assert 5 <= arrived_before < len(rows) == 30
    assert any(r.status == SENDING for r in rows)  # claimed, outcome never recorded
    sink.delay = 0
    # Nothing is taken from a live lease; once it runs out, the rows are claimed again.
    assert dispatch().claimed == 0
    clock.set(utcnow() + dt.timedelta(seconds=app.config["DISPATCH_LEASE_SECONDS"] + 60))
    dispatch()
    rows = all_rows()
    assert all(r.status == SENT for r in rows)
    ids = Counter(m["Message-ID"] for m in sink.received)
    assert set(ids) == {r.message_id for r in rows}  # nothing lost
    resent = [mid for mid, n in ids.items() if n > 1]
    assert resent  # the killed batch's accepted messages went again …
    for mid in resent:  # … as the very same messages
        assert len({m["To"] for m in sink.received if m["Message-ID"] == mid}) == 1


@pytest.mark.slow
@pytest.mark.postgres_only
def test_four_workers_on_postgresql_deliver_every_row_exactly_once(app, many, sink, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (FOR UPDATE SKIP LOCKED); set PORTAL_TEST_DATABASE_URL")
    from portal.changes.services import publish  # noqa: F401  (many has published already)

    sink.delay = 0.01
    env = worker_env(app, tmp_path, PORTAL_DISPATCH_BATCH_SIZE=3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLI, "dispatch", "--quiet"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    rows = all_rows()
    assert all(r.status == SENT for r in rows) and len(rows) == 30
    ids = Counter(m["Message-ID"] for m in sink.received)
    assert len(ids) == 30 and set(ids.values()) == {1}
    workers = {r.message_id: None for r in rows}
    assert len(workers) == 30
    sent_by = Counter(out.decode().split(" sent")[0].strip() for out, _ in outputs)
    assert sum(int(n) * k for n, k in sent_by.items()) == 30


def test_run_worker_delivers_published_notices_and_stops_when_told(app, published, sink):
    """What `forewarn demo` runs in a thread: mail arrives within seconds, then a clean stop,
    with the interpreter's switch interval left at Python's default (issue #19)."""
    import threading

    from portal.notify.worker import run_worker

    app.config["WORKER_INTERVAL_SECONDS"] = 0.05
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, stop), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while len(sink.received) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(sink.received) == 5
    assert all(r.status == SENT for r in all_rows())
    assert sys.getswitchinterval() == pytest.approx(0.005)


@pytest.mark.slow
def test_worker_command_sends_then_stops_cleanly_on_sigterm(app, published, sink, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "worker"],
        env=worker_env(app, tmp_path, PORTAL_WORKER_INTERVAL_SECONDS=0.1),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(sink.received) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Stopping the worker (SIGTERM)" in err and "Worker stopped." in err
    assert len(sink.received) == 5
    assert all(r.status == SENT for r in all_rows())


def test_stale_planner_statistics_are_refreshed_before_a_large_dispatch(app, many, monkeypatch):
    """Right after a large publish PostgreSQL's statistics still show a nearly empty outbox and
    the claim's plan walks every row of the revision per candidate; dispatch analyzes first."""
    from sqlalchemy import text

    from portal.notify import claims
    from tests.conftest import T0

    monkeypatch.setattr(claims, "STALE_STATISTICS_MIN_DUE", 10)  # `many` enqueues 30
    if db.engine.dialect.name != "postgresql":
        assert claims.refresh_statistics(T0) is False  # SQLite plans without statistics
        return
    estimate = "SELECT reltuples FROM pg_class WHERE oid = 'outbox_messages'::regclass"
    assert db.session.scalar(text(estimate)) < 30  # emptied by the last test, not analyzed
    monkeypatch.setattr(claims, "STALE_STATISTICS_MIN_DUE", 31)
    assert claims.refresh_statistics(T0) is False  # stale, but too few due rows to matter
    monkeypatch.setattr(claims, "STALE_STATISTICS_MIN_DUE", 10)
    assert claims.refresh_statistics(T0) is True
    assert db.session.scalar(text(estimate)) >= 30
    assert claims.refresh_statistics(T0) is False  # up to date: nothing to do


def test_a_batch_waiting_behind_a_slow_relay_keeps_its_lease(app, published, sink):
    """Batches wait in the pipeline longer than a lease: renewed, none is sent twice.

    The last batch waits behind four messages of 1 s, twice the lease. The lease is 2 s, not 1:
    renewed every 0.67 s, it then survives 1.3 s of scheduling delay, where a 1 s lease
    (renewed every 0.5 s) lapsed once under a loaded CI run's PostgreSQL phase."""
    from portal.clock import utcnow
    from portal.notify.dispatch import dispatch_due

    app.config["DISPATCH_LEASE_SECONDS"] = 2  # renewed every 0.67 s
    sink.delay = 1.0
    result = dispatch_due(now=utcnow, batch_size=2)
    assert result.sent == 5 and result.taken_over == 0 and result.lease_lost == 0
    assert len(sink.received) == 5
    assert len({m["Message-ID"] for m in sink.received}) == 5
