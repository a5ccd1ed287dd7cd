"""What the dispatcher and the worker tell an operator (issue 18 item 2): one line per batch
with retry reasons and the server's answers, lease take-overs, one line per outage with no
traceback per poll, JSON when configured; `forewarn dispatch` exits non-zero when notices
failed or nothing could be sent."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.extensions import db
from portal.notify.models import SENDING, OutboxMessage
from portal.notify.worker import run_worker
from portal.ops.logs import JsonFormatter
from portal.ops.monitor import WorkerMonitor
from tests.conftest import T0
from tests.notify.conftest import free_port


def delivery_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "forewarn.delivery"]


def test_one_line_per_batch_names_retry_reasons_and_the_servers_answers(
    published, dispatch, sink, caplog
):
    sink.replies["ops1@tapai.example"] = ["451 4.3.0 Mailbox busy, try later"]
    sink.replies["ops2@tapai.example"] = ["550 5.1.1 No such user here"]
    caplog.set_level(logging.INFO, "forewarn.delivery")
    dispatch(batch_size=200)
    # Equal notice on every attempt: the first-party tenant waits while Tapai's notice is still
    # being retried (none of its contacts accepted it yet), so this run sends one batch.
    (line,) = delivery_lines(caplog)
    text = line.getMessage()
    assert "batch: 4 claimed, 2 sent, 1 to retry, 1 failed, 0 skipped" in text
    assert "retrying: 1× 451 4.3.0 Mailbox busy, try later" in text
    assert "failed: 1× 550 5.1.1 No such user here" in text
    assert line.levelno == logging.WARNING  # a final failure
    assert line.fields["failure_answers"] == {"550 5.1.1 No such user here": 1}


def test_a_batch_line_per_batch(published, dispatch, caplog):
    caplog.set_level(logging.INFO, "forewarn.delivery")
    result = dispatch(batch_size=2)
    batches = [r for r in delivery_lines(caplog) if r.fields["event"] == "delivery.batch"]
    assert sum(r.fields["claimed"] for r in batches) == result.claimed
    assert len(batches) >= result.claimed // 2


def test_a_lease_take_over_is_logged_with_the_dead_workers_name(published, dispatch, caplog):
    row = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(status=SENDING, claimed_by="dead-host:42", claimed_until=T0 - dt.timedelta(1))
    )
    db.session.commit()
    caplog.set_level(logging.INFO, "forewarn.delivery")
    dispatch()
    takeovers = [r for r in delivery_lines(caplog) if r.fields["event"] == "delivery.takeover"]
    assert len(takeovers) == 1
    assert "1 row(s)" in takeovers[0].getMessage()
    assert "1 from dead-host:42" in takeovers[0].getMessage()


def test_json_lines_carry_the_fields(published, dispatch, sink):
    sink.replies["ops1@tapai.example"] = ["550 5.1.1 No such user here"]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("forewarn.delivery")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        dispatch()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    batch = next(r for r in records if r["event"] == "delivery.batch")
    assert batch["level"] == "WARNING"
    assert batch["logger"] == "forewarn.delivery"
    assert batch["failed"] == 1
    assert batch["failure_answers"] == {"550 5.1.1 No such user here": 1}
    assert batch["time"].endswith("+00:00")


# `forewarn dispatch` exit status ----------------------------------------------------------
def test_dispatch_exits_0_when_everything_was_sent(published, app):
    done = app.test_cli_runner().invoke(args=["dispatch", "--quiet"])
    assert done.exit_code == 0, done.output
    assert "5 sent, 0 to retry, 0 failed" in done.output


def test_dispatch_exits_1_when_a_notice_finally_failed(published, app, sink):
    sink.replies["ops1@tapai.example"] = ["550 5.1.1 No such user here"]
    done = app.test_cli_runner().invoke(args=["dispatch", "--quiet"])
    assert done.exit_code == 1
    assert "1 notice(s) finally failed" in done.output


def test_dispatch_exits_1_when_nothing_could_be_sent(published, app, smtp_server):
    smtp_server.stop()  # connection refused
    done = app.test_cli_runner().invoke(args=["dispatch", "--quiet"])
    assert done.exit_code == 1
    # Equal notice: the first-party row is not even tried while third-party notices wait.
    assert "0 sent, 4 to retry" in done.output
    assert "nothing could be sent" in done.output
    assert "Traceback" not in done.output


def test_worker_exits_3_with_a_clear_message_when_the_relay_is_unreachable(app, smtp_server):
    smtp_server.stop()
    done = app.test_cli_runner().invoke(args=["worker"])
    assert done.exit_code == 3
    assert f"127.0.0.1:{smtp_server.port}: connection refused" in done.output
    assert "PORTAL_MAIL_SERVER" in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


# Outages ------------------------------------------------------------------------------------
def test_an_unreachable_database_is_one_line_not_a_traceback_per_poll(tmp_path, caplog):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}",
            "MAIL_SUPPRESS_SEND": False,
            "MAIL_PORT": free_port(),  # nothing listens: the relay is down too
            "WORKER_INTERVAL_SECONDS": 0.01,
            "WORKER_HEARTBEAT_SECONDS": 0.01,
            "WORKER_SUMMARY_SECONDS": 3600,
        }
    )
    caplog.set_level(logging.INFO)
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, stop))
    thread.start()
    time.sleep(0.6)
    stop.set()
    thread.join(10)
    outages = [r for r in delivery_lines(caplog) if r.fields.get("event") == "outage.start"]
    assert sorted(r.fields["outage"] for r in outages) == ["database", "relay"]
    database = next(r for r in outages if r.fields["outage"] == "database")
    assert "database unreachable: unable to open database file" in database.getMessage()
    assert all(r.exc_info is None for r in caplog.records), "no traceback for an outage"
    assert len(caplog.records) < 10  # dozens of rounds failed meanwhile


def test_the_end_of_an_outage_is_one_line_with_its_length(app, caplog):
    caplog.set_level(logging.INFO, "forewarn.delivery")
    monitor = WorkerMonitor(app, "w1")
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    for _ in range(5):
        monitor.round_failed(down)
    monitor.round_done(type("R", (), dict(sent=1, retrying=0, failed=0, skipped=0, claimed=1)))
    lines = delivery_lines(caplog)
    assert [r.fields["event"] for r in lines] == ["outage.start", "outage.end"]
    assert lines[1].fields["repeats"] == 4
    assert "recovered after" in lines[1].getMessage()


def test_an_unexpected_error_logs_its_traceback_once(app, caplog):
    caplog.set_level(logging.INFO, "forewarn.delivery")
    monitor = WorkerMonitor(app, "w1")
    for _ in range(3):
        try:
            raise KeyError("oops")
        except KeyError as exc:
            monitor.round_failed(exc)
    lines = delivery_lines(caplog)
    assert len(lines) == 1 and lines[0].exc_info is not None


def test_the_summary_line_counts_the_interval(app, caplog):
    caplog.set_level(logging.INFO, "forewarn.delivery")
    monitor = WorkerMonitor(app, "w1")
    result = type("R", (), dict(sent=7, retrying=2, failed=1, skipped=0, claimed=10))
    monitor.round_done(result)
    monitor.round_done(result)
    monitor.summary()
    line = delivery_lines(caplog)[-1]
    assert "14 sent, 4 to retry, 2 failed, 0 skipped in 2 batch(es)" in line.getMessage()
    assert line.fields["event"] == "delivery.summary"
    monitor.summary()
    assert "0 sent" in delivery_lines(caplog)[-1].getMessage()


@pytest.mark.parametrize("value", ["xml", "yaml"])
def test_a_bad_log_format_is_refused_at_startup(value, tmp_path):
    from portal import ConfigurationError

    with pytest.raises(ConfigurationError, match="PORTAL_LOG_FORMAT must be 'text' or 'json'"):
        create_app({"TESTING": True, "LOG_FORMAT": value})
