"""Feed versions: one counter per feed scope, moved by every revision of a change in it.

``bump_for_change`` runs in the transaction of each revision (publish, update, start, complete,
cancel — every one goes through ``portal.changes.services.announce``). It bumps the scope of
every tenant the change has ever affected (a tenant leaving the affected set must see the
entry go) and of every service whose public feeds show the change before or after the revision
(``portal.feeds.public.sync_public_listing``): a change that is not public, and was not, moves
no public feed (DESIGN.md "Feeds": a public feed's validators move only when its own content
does). Renaming a service, an impact level or a tenant moves the scopes that show the name
(``portal.feeds.renames``, through ``bump_scopes``). A feed request then reads its validators
from one row by primary key (``current``).

Last-Modified (RFC 9110 §8.8.2) has one-second resolution, while versions can follow each other
within a second. Each version therefore gets its own whole-second Last-Modified, later than the
moment of the change and strictly greater than the previous version's: a client's
If-Modified-Since, taken from any earlier response's Last-Modified or Date, is always older than
a newer version's, so it is never answered 304 for content it has not seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Connection, String, bindparam, case, cast, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.catalog.models import Service
from portal.changes.models import Change, ChangeTenant
from portal.extensions import db
from portal.feeds.models import FeedVersion
from portal.feeds.public import sync_public_listing

# The two dialects' INSERT … ON CONFLICT constructs (the same methods, separate classes).
_INSERTS: dict[str, Callable[[Any], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": pg_insert,
    "sqlite": sqlite_insert,
}


class Version(NamedTuple):
    """A feed scope's version: the counter, when it last moved (exact, UTC), and its HTTP
    Last-Modified (whole seconds, UTC). (0, None, None) while nothing was ever published in it."""

    number: int
    changed_at: dt.datetime | None
    last_modified: dt.datetime | None


def scope_expression(kind: str, id_column):
    """SQL for the scope key of ``kind`` ("tenant" or "service") and an id column."""
    return literal(f"{kind}:", String) + cast(id_column, String)


def bump_for_change(change: Change, now: dt.datetime) -> None:
    """Bump the version of every feed scope ``change`` appears (or appeared) in.

    Tenant scopes: every tenant with a ``ChangeTenant`` row. Service scopes: those whose public
    feeds list the change before or after this revision (the listing is brought up to date
    here). Flushes; the caller commits.
    """

    bump_scopes(
        select(scope_expression("tenant", ChangeTenant.tenant_id).label("scope")).where(
            ChangeTenant.change_id == change.id
        ),
        now,
    )
    services = sync_public_listing(change, now)
    if services:
        bump_scopes(
            select(scope_expression("service", Service.id).label("scope")).where(
                Service.id.in_(sorted(services))
            ),
            now,
        )


def last_modified_epoch(now: dt.datetime) -> int:
    """The whole second (Unix time) after ``now``: the earliest Last-Modified of content that
    changed at ``now`` which no response served before the change can equal."""
    return int(now.timestamp()) + 1


def bump_scopes(scopes, now: dt.datetime, connection: Connection | None = None) -> None:
    """Upsert (scope, 1, now) for each scope the SELECT yields (a column labelled ``scope``);
    existing rows count up, and their Last-Modified moves to the second after ``now`` or, if
    that is not later than the previous one, one second past it.

    ``connection``: the session's connection, from a flush event (``portal.feeds.renames``),
    where only Core statements may run; by default the statement goes through the session.
    """
    executor = connection if connection is not None else db.session
    dialect = (connection if connection is not None else db.session.get_bind()).dialect
    insert = _INSERTS[dialect.name]
    # The WHERE keeps SQLite from reading the upsert's ON CONFLICT as a join constraint.
    rows = select(
        scopes.subquery().c.scope,
        literal(1),
        literal(now, FeedVersion.changed_at.type),
        literal(last_modified_epoch(now)),
    ).where(true())
    statement = insert(FeedVersion).from_select(
        ["scope", "version", "changed_at", "last_modified_epoch"], rows
    )
    excluded = statement.excluded
    executor.execute(
        statement.on_conflict_do_update(
            index_elements=[FeedVersion.scope],
            set_={
                "version": FeedVersion.version + 1,
                "changed_at": excluded.changed_at,
                "last_modified_epoch": case(
                    (
                        excluded.last_modified_epoch > FeedVersion.last_modified_epoch,
                        excluded.last_modified_epoch,
                    ),
                    else_=FeedVersion.last_modified_epoch + 1,
                ),
            },
        )
    )


_CURRENT = select(
    FeedVersion.version, FeedVersion.changed_at, FeedVersion.last_modified_epoch
).where(FeedVersion.scope == bindparam("scope"))


def from_row(version: int | None, changed_at: dt.datetime | None, epoch: int | None) -> Version:
    """A ``Version`` from the columns of a ``feed_versions`` row (all None: no row)."""
    if version is None:
        return Version(0, None, None)
    if not epoch and changed_at is not None:  # a row written without it (bench seeds)
        epoch = last_modified_epoch(changed_at)
    last_modified = dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch else None
    return Version(int(version), changed_at, last_modified)


def current(scope_key: str) -> Version:
    """The version of a scope; (0, None, None) while nothing was ever published in it."""
    row = db.session.connection().execute(_CURRENT, {"scope": scope_key}).first()
    return Version(0, None, None) if row is None else from_row(*row)
