"""What a batch of outbox rows preloads before any notice of it is rendered.

Everything the batch's notices need — the changes, each revision's own content (from its
snapshot), the tenants with their notice rows, breaches and the services and components they
use, names, thread roots and the mails' absolute links — is read in a handful of set-based
queries (``load_context``), so rendering a batch costs the same few statements whatever its
size (bench/fanout.py). ``portal.notify.context`` turns it into each notice's values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from flask import current_app, url_for
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from portal.branding import DEFAULT_BRAND, Brand, brand_of
from portal.catalog.models import Component, Service, Usage
from portal.changes.models import Change, ChangeTenant, ImpactLevel, NoticeBreach, Revision
from portal.changes.services import snapshot
from portal.extensions import db
from portal.notify.content import CONTENT_KINDS, RevisionContent, content_of
from portal.notify.models import NOTICE, SUBSCRIPTION, OutboxMessage
from portal.tenants.models import Tenant

if TYPE_CHECKING:
    from portal.notify.render import NoticeMessage, Rendered


class TenantState(NamedTuple):
    """A tenant's notice row for a change, as the notices need it."""

    clock_revision: int
    active: bool
    started_at: dt.datetime | None
    required_seconds: int
    basis: str  # canonical JSON list of the rules behind ``required_seconds``


class Breach(NamedTuple):
    """Less notice than owed, by an approved emergency (``NoticeBreach``)."""

    required_seconds: int
    given_seconds: int
    justification: str


@dataclass
class BatchContext:
    """Everything a batch of rows needs, loaded with a handful of queries."""

    changes: dict[int, Change] = field(default_factory=dict)
    revisions: dict[tuple[int, int], Revision] = field(default_factory=dict)
    # Each revision's own content (from its snapshot): what a notice of it says.
    contents: dict[tuple[int, int], RevisionContent] = field(default_factory=dict)
    tenants: dict[int, Tenant] = field(default_factory=dict)
    tenant_rows: dict[tuple[int, int | None], TenantState] = field(default_factory=dict)
    breaches: dict[tuple[int, int | None, int], Breach] = field(default_factory=dict)
    impacts: dict[str, str] = field(default_factory=dict)
    service_names: dict[str, str] = field(default_factory=dict)  # slug -> name
    component_names: dict[tuple[str, str], str] = field(default_factory=dict)
    used_services: dict[int, set[str]] = field(default_factory=dict)  # tenant -> slugs used
    # tenant -> (service slug, component slug or None for the whole service) it uses
    usage: dict[int, set[tuple[str, str | None]]] = field(default_factory=dict)
    # (change, revision, services and components a tenant uses) -> what it is shown affected
    affected: dict[tuple, tuple[tuple[str, tuple[str, ...]], ...]] = field(default_factory=dict)
    thread_roots: dict[tuple[int, int | None, str], OutboxMessage] = field(default_factory=dict)
    rendered: dict[tuple, Rendered] = field(default_factory=dict)
    shapes: dict[tuple, Rendered] = field(default_factory=dict)  # by template values
    prototypes: dict[str, NoticeMessage] = field(default_factory=dict)
    change_urls: dict[int, str] = field(default_factory=dict)
    body_html: dict[tuple[int, int, str], Markup] = field(default_factory=dict)
    feeds_url: str = ""
    preferences_url: str = ""
    brand: Brand = DEFAULT_BRAND


def external_urls(change_ids) -> tuple[dict[int, str], str, str]:
    """Absolute links for emails, built from BASE_URL (no request exists in a worker): each
    change's page, the tenant's feeds settings and the email preferences page."""
    base = current_app.config["BASE_URL"].rstrip("/")
    fallbacks = {"feeds.settings": "/feeds", "notify.preferences": "/settings/email"}
    with current_app.test_request_context("/", base_url=base + "/"):

        def build(endpoint, fallback, **values):
            try:
                return url_for(endpoint, _external=True, **values)
            except BuildError:
                return base + fallback

        changes = {
            cid: build("changes.show", f"/changes/{cid}", change_id=cid) for cid in change_ids
        }
        return (
            changes,
            build("feeds.settings", fallbacks["feeds.settings"]),
            build("notify.preferences", fallbacks["notify.preferences"]),
        )


def load_context(rows: list[OutboxMessage]) -> BatchContext:
    """Preload changes, their revisions' contents, tenants (with their notice rows, breaches
    and the services and components they use), names, and thread roots."""
    ctx = BatchContext()
    ctx.brand = brand_of(current_app.config)
    change_ids = {r.change_id for r in rows}
    tenant_ids = {r.tenant_id for r in rows if r.tenant_id is not None}
    ctx.change_urls, ctx.feeds_url, ctx.preferences_url = external_urls(change_ids)
    ctx.changes = {
        c.id: c for c in db.session.scalars(select(Change).where(Change.id.in_(change_ids)))
    }
    ctx.revisions = {
        (r.change_id, r.number): r
        for r in db.session.scalars(select(Revision).where(Revision.change_id.in_(change_ids)))
    }
    ctx.contents = {
        key: content_of(r.change_id, r.number, r.kind, r.snapshot)
        for key, r in ctx.revisions.items()
    }
    ctx.tenants = {
        t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)))
    }
    ctx.tenant_rows = {
        (c, t): TenantState(rev, bool(active), started, required, basis or "[]")
        for c, t, rev, active, started, required, basis in db.session.execute(
            select(
                ChangeTenant.change_id,
                ChangeTenant.tenant_id,
                ChangeTenant.clock_revision,
                ChangeTenant.active,
                ChangeTenant.started_at,
                ChangeTenant.required_notice_seconds,
                ChangeTenant.notice_basis,
            ).where(ChangeTenant.change_id.in_(change_ids), ChangeTenant.tenant_id.in_(tenant_ids))
        )
    }
    ctx.breaches = {
        (c, t, n): Breach(required, given, justification or "")
        for c, t, n, required, given, justification in db.session.execute(
            select(
                NoticeBreach.change_id,
                NoticeBreach.tenant_id,
                NoticeBreach.revision_number,
                NoticeBreach.required_notice_seconds,
                NoticeBreach.given_notice_seconds,
                NoticeBreach.justification,
            ).where(NoticeBreach.change_id.in_(change_ids), NoticeBreach.tenant_id.in_(tenant_ids))
        )
    }
    ctx.impacts = dict(db.session.execute(select(ImpactLevel.code, ImpactLevel.name)).all())
    slugs = {s for c in ctx.contents.values() for s in c.services}
    ctx.service_names = dict(
        db.session.execute(select(Service.slug, Service.name).where(Service.slug.in_(slugs))).all()
    )
    ctx.component_names = {
        (service, component): name
        for service, component, name in db.session.execute(
            select(Service.slug, Component.slug, Component.name)
            .join(Service, Service.id == Component.service_id)
            .where(Service.slug.in_(slugs))
        )
    }
    for tenant_id, slug, component in db.session.execute(
        select(Usage.tenant_id, Service.slug, Component.slug)
        .join(Service, Service.id == Usage.service_id)
        .outerjoin(Component, Component.id == Usage.component_id)
        .where(Usage.tenant_id.in_(tenant_ids), Service.slug.in_(slugs))
    ):
        ctx.used_services.setdefault(tenant_id, set()).add(slug)
        ctx.usage.setdefault(tenant_id, set()).add((slug, component))
    # The first notice each recipient got for the change: later ones reply to it.
    firsts = (
        select(func.min(OutboxMessage.id))
        .where(
            OutboxMessage.change_id.in_(change_ids),
            OutboxMessage.tenant_id.in_(tenant_ids),
            OutboxMessage.kind.in_((NOTICE, SUBSCRIPTION)),
        )
        .group_by(OutboxMessage.change_id, OutboxMessage.tenant_id, OutboxMessage.recipient)
    )
    wanted = {(r.change_id, r.tenant_id, r.recipient) for r in rows}
    for root in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(firsts))):
        key = (root.change_id, root.tenant_id, root.recipient)
        if key in wanted:
            ctx.thread_roots[key] = root
    return ctx


def content_for(row: OutboxMessage, ctx: BatchContext) -> RevisionContent:
    """The content the row's revision published (the current state only if it has none)."""
    content = ctx.contents.get((row.change_id, row.revision_number))
    if content is None:  # an outbox row always names a revision; keep rendering regardless
        change = ctx.changes[row.change_id]
        content = content_of(change.id, row.revision_number, "update", snapshot(change))
        ctx.contents[(row.change_id, row.revision_number)] = content
    return content


def previous_content(content: RevisionContent, ctx: BatchContext) -> RevisionContent | None:
    """The content published before ``content`` (by a publish or update revision)."""
    for number in range(content.number - 1, 0, -1):
        earlier = ctx.contents.get((content.id, number))
        if earlier is not None and earlier.kind in CONTENT_KINDS:
            return earlier
    return None
