"""Renames that move feeds: names a feed shows from outside its changes.

A feed's validators come from its scope's version row (``portal.feeds.versions``), which every
revision of a change moves. But entries also show live data that belongs to no change:

- a service's name and slug: every format lists the services a change targets (RSS/Atom
  categories carry the slug as term and the name as label; descriptions and calendar
  categories the name), and a service's public feeds are titled with its name;
- an impact level's name: the "Impact:" line of RSS and Atom entries (calendars and
  categories show the level's code, which never changes);
- a tenant's name: the title of its private feeds ("Changes affecting <name>").

Withdrawn entries of public calendars are rendered from the last public revision's snapshot
and the scope's own title, so they add nothing here.

One ``after_flush`` listener, installed once per process (``install``, from
``portal.subscriptions``), therefore watches those attributes on every path that can rename
(forms, API, CLI, CSV import: they all assign the ORM attributes) and, in the same
transaction, moves the versions of exactly the scopes whose content shows the renamed thing
(DESIGN.md "Feeds": a 304 only when the content is unchanged, and a public feed's validators
move only when its own content does):

- a service: the tenants of every published change targeting it, the public feeds of every
  service targeted by such a change that is public, and its own public feeds (title);
- an impact level: the same, for the published changes of that level (no own feed);
- a tenant: its own private feeds only.

A name saved again unchanged moves nothing (attribute history compares old and new; the
``set`` listeners below make the old value always known). The entry cap is not looked at: an
ended change that a capped feed no longer shows still moves that feed, once, to the same
content — never the other way round.
"""

from __future__ import annotations

from sqlalchemy import CompoundSelect, Select, event, inspect, or_, select, union
from sqlalchemy.orm import Session

from portal.catalog.models import Service
from portal.changes.models import (
    PUBLISHED_STATUSES,
    VISIBILITY_PUBLIC,
    Change,
    ChangeTarget,
    ChangeTenant,
    ImpactLevel,
)
from portal.clock import now
from portal.extensions import db
from portal.feeds.versions import bump_scopes, scope_expression
from portal.tenants.models import Tenant

# The attributes feeds show, per model.
SHOWN: dict[type, tuple[str, ...]] = {
    Service: ("name", "slug"),
    ImpactLevel: ("name",),
    Tenant: ("name",),
}


def _changed(obj: object, attributes: tuple[str, ...]) -> bool:
    """Whether the flush writes a new value to one of ``attributes`` (``added`` is empty when
    the value set equals the one loaded)."""
    state = inspect(obj)
    return any(state.attrs[name].history.added for name in attributes)


def renamed(session: Session) -> tuple[set[int], set[str], set[int]]:
    """(service ids, impact level codes, tenant ids) renamed by the flush under way."""
    services: set[int] = set()
    levels: set[str] = set()
    tenants: set[int] = set()
    buckets: dict[type, set] = {Service: services, ImpactLevel: levels, Tenant: tenants}
    for obj in session.dirty:  # pre-flush state, still readable in after_flush
        attributes = SHOWN.get(type(obj))
        if attributes is None or not _changed(obj, attributes):
            continue
        identity = inspect(obj).identity  # no load: a dirty object is persistent
        if identity is not None:
            buckets[type(obj)].add(identity[0])
    return services, levels, tenants


def affected_scopes(
    services: set[int], levels: set[str], tenants: set[int]
) -> CompoundSelect | None:
    """SELECT of the distinct scope keys (column ``scope``) whose feeds show one of these
    services, impact levels or tenants; None when there is none."""
    parts: list[Select] = []
    if services or levels:
        shows = []
        if services:
            targeting = select(ChangeTarget.change_id).where(ChangeTarget.service_id.in_(services))
            shows.append(Change.id.in_(targeting))
        if levels:
            shows.append(Change.impact.in_(levels))
        # The changes feeds show (content._selection): published, never drafts.
        changes = select(Change.id).where(
            Change.status.in_(PUBLISHED_STATUSES),
            Change.published_at.is_not(None),
            or_(*shows),
        )
        # Every tenant with a row: dropped tenants keep the entry, services and all.
        parts.append(
            select(scope_expression("tenant", ChangeTenant.tenant_id).label("scope")).where(
                ChangeTenant.change_id.in_(changes)
            )
        )
        public = changes.where(Change.visibility == VISIBILITY_PUBLIC)
        parts.append(
            select(scope_expression("service", ChangeTarget.service_id).label("scope")).where(
                ChangeTarget.change_id.in_(public)
            )
        )
    if services:  # the public feeds' own title
        parts.append(
            select(scope_expression("service", Service.id).label("scope")).where(
                Service.id.in_(services)
            )
        )
    if tenants:  # the private feeds' own title
        parts.append(
            select(scope_expression("tenant", Tenant.id).label("scope")).where(
                Tenant.id.in_(tenants)
            )
        )
    # UNION, not UNION ALL: one upsert may not touch a row twice (PostgreSQL refuses).
    return union(*parts) if parts else None


def _after_flush(session: Session, flush_context) -> None:
    """Move the feeds that show what this flush renamed, in its transaction.

    Runs after the flush's SQL, so the scopes are read from the rows as written; only Core
    statements on the session's connection run here (an ORM load inside after_flush would
    disturb the identity map, per SQLAlchemy's SessionEvents.after_flush)."""
    scopes = affected_scopes(*renamed(session))
    if scopes is not None:
        bump_scopes(scopes, now(), connection=session.connection())


def _keep_old_value(target, value, oldvalue, initiator):
    """Nothing to do: registered for ``active_history``, so that an expired attribute's old
    value is loaded before it is replaced and history can tell a rename from a re-save."""


_installed = False


def install() -> None:
    """Attach the listeners once per process (the models and ``db.session`` are singletons)."""
    global _installed
    if _installed:
        return
    for model, attributes in SHOWN.items():
        for name in attributes:
            event.listen(getattr(model, name), "set", _keep_old_value, active_history=True)
    event.listen(db.session, "after_flush", _after_flush)
    _installed = True
