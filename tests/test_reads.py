"""portal.reads: single statements outside the session, on an autocommit pool of their own."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time

import pytest
from sqlalchemy import LargeBinary, bindparam, func, literal, select, text

from portal import reads
from portal.extensions import db
from portal.feeds.models import FeedVersion
from portal.sqltypes import UTCDateTime
from tests.conftest import T0

_VERSION = select(FeedVersion.version, FeedVersion.changed_at).where(
    FeedVersion.scope == bindparam("scope")
)


def _postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")


def test_first_converts_columns_like_the_orm_and_returns_none_for_no_row(app):
    with app.app_context():
        db.session.add(FeedVersion(scope="tenant:7", version=3, changed_at=T0))
        db.session.commit()
        assert reads.first(_VERSION, {"scope": "tenant:7"}) == (3, T0)
        version, changed_at = reads.first(_VERSION, {"scope": "tenant:7"})
        assert changed_at.tzinfo is not None  # aware on SQLite too, as the column type makes it
        assert reads.first(_VERSION, {"scope": "tenant:8"}) is None


def test_first_sees_only_what_is_committed(app):
    with app.app_context():
        db.session.add(FeedVersion(scope="tenant:9", version=1, changed_at=T0))
        db.session.flush()
        if db.engine.dialect.name == "postgresql":  # SQLite would wait for the writer's lock
            assert reads.first(_VERSION, {"scope": "tenant:9"}) is None
        db.session.commit()
        assert reads.first(_VERSION, {"scope": "tenant:9"}) == (1, T0)


def test_parameters_that_need_converting_are_refused(app):
    statement = select(FeedVersion.version).where(
        FeedVersion.changed_at > bindparam("after", type_=UTCDateTime)
    )
    with app.app_context(), pytest.raises(TypeError, match="plain parameters"):
        reads.first(statement, {"after": T0 - dt.timedelta(days=1)})


def test_reads_leave_no_transaction_open_on_postgresql(app):
    with app.app_context():
        _postgresql_only()
        (pid,) = reads.first(select(func.pg_backend_pid()))
        state = db.session.execute(
            text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one()
        assert state == "idle"  # not "idle in transaction": autocommit, nothing held


def test_a_connection_the_server_dropped_is_replaced_and_the_read_retried(app):
    with app.app_context():
        _postgresql_only()
        engine = db.engines[reads.BIND]
        (pid,) = reads.first(select(func.pg_backend_pid()))
        assert db.session.execute(select(func.pg_terminate_backend(pid))).scalar_one()
        db.session.commit()
        # Without the retry the pooled connection is simply dead...
        with pytest.raises(engine.dialect.loaded_dbapi.OperationalError):
            reads._fetch_one(engine, "SELECT 1", {}, retry=False)
        # ...and with it (that dead connection went back to the pool) the read succeeds.
        (new_pid,) = reads.first(select(func.pg_backend_pid()))
        assert new_pid != pid
        assert reads.first(select(literal(1))) == (1,)


def test_the_reads_pool_is_autocommit_without_ping_on_the_same_database(app):
    with app.app_context():
        engine = db.engines[reads.BIND]
        assert engine.url == db.engine.url
        assert engine.pool._pre_ping is False
        assert engine.get_execution_options().get("isolation_level") in (None, "AUTOCOMMIT")
        connection = engine.raw_connection()
        try:
            if engine.dialect.name == "postgresql":
                assert connection.dbapi_connection.autocommit is True
            else:
                assert connection.dbapi_connection.isolation_level is None
        finally:
            connection.close()


def test_psycopg_reads_keep_one_binary_cursor_per_connection(app):
    """One cursor per pooled connection, results in the binary format (bytea as it is, not
    hex); the cursor goes with the connection when the server drops it."""
    with app.app_context():
        _postgresql_only()
        engine = db.engines[reads.BIND]
        (pid,) = reads.first(select(func.pg_backend_pid()))
        connection = engine.raw_connection()
        try:
            kept = connection.info[reads._CURSOR]
            assert kept.format == 1  # psycopg's BINARY
        finally:
            connection.close()
        assert reads.first(select(func.decode("00ff", "hex", type_=LargeBinary))) == (b"\x00\xff",)
        connection = engine.raw_connection()
        try:
            assert connection.info[reads._CURSOR] is kept  # reused, not made again
        finally:
            connection.close()
        assert db.session.execute(select(func.pg_terminate_backend(pid))).scalar_one()
        db.session.commit()
        (new_pid,) = reads.first(select(func.pg_backend_pid()))
        connection = engine.raw_connection()
        try:
            assert new_pid != pid
            assert connection.info[reads._CURSOR] is not kept
        finally:
            connection.close()


def _forked_child_reads(count: int) -> tuple[int, int, int]:
    """Fork; parent and child each read ``count`` distinct values through ``portal.reads``
    at the same time. Returns (parent's backend pid, child's backend pid, wrong answers in
    both). A child that hangs (two processes on one socket) is killed after 20 s."""
    (parent_pid,) = reads.first(select(func.pg_backend_pid()))
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's report comes back through the pipe)
        try:
            (pid,) = reads.first(select(func.pg_backend_pid()))
            wrong = sum(reads.first(select(literal(f"c{i}"))) != (f"c{i}",) for i in range(count))
            os.write(w, f"{pid} {wrong}".encode())
        finally:
            os._exit(0)
    os.close(w)
    wrong = 0
    try:
        wrong = sum(reads.first(select(literal(f"p{i}"))) != (f"p{i}",) for i in range(count))
    finally:
        deadline = time.monotonic() + 20
        while os.waitpid(child, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                break
            time.sleep(0.05)
    report = os.read(r, 100).decode().split()
    os.close(r)
    assert report, "the child reported nothing (it hung or died)"
    return parent_pid, int(report[0]), wrong + int(report[1])


def test_a_forked_child_reads_on_connections_of_its_own(app):
    """gunicorn --preload or a script that forks after the pools were used: the child must
    not read on the parent's sockets (``portal.extensions._forget_inherited_connections``).
    Before, the child's backend was the parent's and side by side their answers crossed."""
    with app.app_context():
        _postgresql_only()
        parent_pid, child_pid, wrong = _forked_child_reads(300)
        assert child_pid != parent_pid
        assert wrong == 0
        assert reads.first(select(func.pg_backend_pid())) == (parent_pid,)  # the parent's stays
