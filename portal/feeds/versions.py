"""Feed versions: one counter per feed scope, moved by every revision of a change in it.

``bump_for_change`` runs in the transaction of each revision (publish, update, start, complete,
cancel — every one goes through ``portal.changes.services.announce``). It bumps the scope of
every tenant the change has ever affected (a tenant leaving the affected set must see the
entry go) and of every service it targets (public feeds; visibility may have changed). A feed
request then reads its validators from one row by primary key (``current``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, bindparam, cast, literal, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.changes.models import Change, ChangeTarget, ChangeTenant
from portal.extensions import db
from portal.feeds.models import FeedVersion

_INSERTS = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def scope_expression(kind: str, id_column):
    """SQL for the scope key of ``kind`` ("tenant" or "service") and an id column."""
    return literal(f"{kind}:", String) + cast(id_column, String)


def bump_for_change(change: Change, now: dt.datetime) -> None:
    """Bump the version of every feed scope ``change`` appears (or appeared) in."""
    for scopes in (
        select(scope_expression("tenant", ChangeTenant.tenant_id).label("scope")).where(
            ChangeTenant.change_id == change.id
        ),
        select(scope_expression("service", ChangeTarget.service_id).label("scope"))
        .distinct()
        .where(ChangeTarget.change_id == change.id),
    ):
        _bump(scopes, now)


def _bump(scopes, now: dt.datetime) -> None:
    """Upsert (scope, 1, now) for each scope the SELECT yields; existing rows count up."""
    insert = _INSERTS[db.session.get_bind().dialect.name]
    # The WHERE keeps SQLite from reading the upsert's ON CONFLICT as a join constraint.
    rows = select(
        scopes.subquery().c.scope, literal(1), literal(now, FeedVersion.changed_at.type)
    ).where(true())
    statement = insert(FeedVersion).from_select(["scope", "version", "changed_at"], rows)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[FeedVersion.scope],
            set_={"version": FeedVersion.version + 1, "changed_at": statement.excluded.changed_at},
        )
    )


_CURRENT = select(FeedVersion.version, FeedVersion.changed_at).where(
    FeedVersion.scope == bindparam("scope")
)


def current(scope_key: str) -> tuple[int, dt.datetime | None]:
    """(version, changed_at) of a scope; (0, None) while nothing was ever published in it."""
    row = db.session.connection().execute(_CURRENT, {"scope": scope_key}).first()
    return (0, None) if row is None else (int(row.version), row.changed_at)
