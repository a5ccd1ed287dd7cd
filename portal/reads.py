"""Single-statement reads outside the request's session, for the hottest read-only paths.

A read through ``db.session`` opens a transaction: on PostgreSQL a BEGIN before the query and
a ROLLBACK when the connection goes back to the pool, two more round trips, and the ROLLBACK
makes psycopg forget its prepared statements, so the query is planned again on every request.
The pool's liveness ping costs a further round trip per checkout, and SQLAlchemy's execution
layer some 60 µs of Python per statement.

``first`` runs one prebuilt statement on a DBAPI connection of its own pool (the ``reads``
bind, see ``portal.configure_reads_bind``) whose connections stay in autocommit mode and are
not pinged: one round trip, psycopg prepares the statement after a few uses, and the SQL is
compiled once per statement and dialect with SQLAlchemy (types still convert the results). On
psycopg the statement goes through one cursor kept with each connection, in the binary result
format (``_kept_cursor``). A connection the server dropped (restart, idle timeout) is
discarded with the rest of the pool and the read tried once more on a fresh one, which is what
the ping would have bought. One statement sees one consistent snapshot, so nothing is lost by
not wrapping it in a transaction.

Only for reads that stand alone, by statements whose parameters need no conversion (strings,
numbers): anything that writes, or reads what this request wrote, stays on ``db.session``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect, Engine

from portal.extensions import db

BIND = "reads"
_CURSOR = "portal.reads.cursor"  # key of the kept cursor in a pooled connection's info


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled for one dialect, with what turns parameters and rows around."""

    sql: str
    constants: dict[str, Any]  # the statement's own literal parameters
    positions: tuple[str, ...] | None  # parameter order for positional paramstyles
    converters: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, params: dict[str, Any]):
        values = {**self.constants, **params}
        return values if self.positions is None else tuple(values[k] for k in self.positions)

    def convert(self, row) -> tuple:
        return tuple(v if f is None else f(v) for f, v in zip(self.converters, row, strict=True))


@functools.lru_cache(maxsize=64)
def _compile(statement: Select, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    for bind in compiled.binds.values():
        if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
            raise TypeError(f"portal.reads takes plain parameters only, not {bind.type!r}")
    converters = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    )
    positiontup = compiled.positiontup if dialect.positional else None
    positions = tuple(positiontup) if positiontup is not None else None
    constants = {k: v for k, v in compiled.construct_params(_check=False).items() if v is not None}
    return _Compiled(compiled.string, constants, positions, converters)


def _engine() -> Engine:
    return db.engines.get(BIND) or db.engine


def first(statement: Select, params: dict[str, Any] | None = None) -> tuple | None:
    """The first row of ``statement`` as a tuple (or None), read in autocommit mode."""
    engine = _engine()
    compiled = _compile(statement, engine.dialect)
    row = _fetch_one(engine, compiled.sql, compiled.arguments(params or {}))
    return None if row is None else compiled.convert(row)


def _kept_cursor(connection):
    """The psycopg cursor kept with this pooled connection, made on first use.

    One cursor per connection instead of one per read saves some 13 µs a read. It asks for
    results in PostgreSQL's binary format: the server sends timestamps as integers instead of
    formatting text in its time zone, and bytea as it is instead of hex (half the bytes of a
    stored gzip body). A client-side cursor holds nothing on the server between reads, and
    SQLAlchemy clears ``connection.info`` when the connection is invalidated, so a replaced
    connection gets a new cursor.
    """
    cursor = connection.info.get(_CURSOR)
    if cursor is None:
        cursor = connection.info[_CURSOR] = connection.dbapi_connection.cursor(binary=True)
    return cursor


def _fetch_one(engine: Engine, sql: str, arguments, *, retry: bool = True):
    """Run ``sql`` on a pooled connection; a dead connection is discarded and, once, retried."""
    connection = engine.raw_connection()  # close() hands it back to the pool
    try:
        if engine.dialect.driver == "psycopg":
            cursor = _kept_cursor(connection)
            cursor.execute(sql, arguments)
            return cursor.fetchone()
        cursor = connection.cursor()
        try:
            cursor.execute(sql, arguments)
            return cursor.fetchone()
        finally:
            cursor.close()  # sqlite3: an unfinished statement would hold its read snapshot
    except engine.dialect.loaded_dbapi.Error as err:
        if not (retry and engine.dialect.is_disconnect(err, connection.dbapi_connection, None)):
            raise
        connection.invalidate(err)
    finally:
        connection.close()
    engine.dispose()  # the pool's other idle connections are as dead as that one
    return _fetch_one(engine, sql, arguments, retry=False)
