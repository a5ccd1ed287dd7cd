"""What a notice says to one tenant: the batch's preloaded data and the template context.

Everything a batch of outbox rows needs is loaded in a handful of set-based queries
(``load_context``); ``template_context`` then builds, once per rendering (revision, tenant,
kind), the values the ``templates/email`` pairs show, in the order customers read them
(issue 15 item 2; DESIGN.md "What customers read"): what changes, when (the tenant's zone with
its UTC offset, and UTC), the impact on the tenant's own services and components, what the
tenant needs to do and by when, the acknowledge button, then the details. Per recipient only
the link slots are filled (``portal.notify.render.build_message``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlencode

from flask import current_app, url_for
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from portal.acks import services as ack_rules
from portal.branding import DEFAULT_BRAND, Brand, brand_of
from portal.catalog.models import Component, Service, Usage
from portal.changes.models import Change, ChangeTenant, ImpactLevel, NoticeBreach, Revision
from portal.changes.services import snapshot
from portal.clock import get_clock
from portal.extensions import db
from portal.notify import subjects
from portal.notify.content import (
    CONTENT_KINDS,
    NO_LONGER_AFFECTED,
    NOW_AFFECTED,
    RESENT,
    RevisionContent,
    content_of,
    moved,
    remaining,
    target_label,
    what_changed,
)
from portal.notify.models import (
    APPROVAL,
    ESCALATION,
    NOTICE,
    NOTICE_FAILED,
    OBJECTION,
    REMINDER,
    SUBSCRIPTION,
    OutboxMessage,
)
from portal.templating import render_markdown
from portal.tenants.models import NoticeContact, Tenant
from portal.timezones import (
    format_duration,
    format_when_and_utc,
    get_zone,
    offset_label,
    relative_to,
)

if TYPE_CHECKING:
    from portal.notify.render import NoticeMessage, Rendered

# Per-recipient links are rendered as these slots once per rendering, then replaced for each
# recipient: a tenant's contacts get the same text, only their links differ.
ACK_SLOT = "https://forewarn.invalid/slot/acknowledge"
UNSUBSCRIBE_SLOT = "https://forewarn.invalid/slot/unsubscribe"
SLOTS = (ACK_SLOT, UNSUBSCRIBE_SLOT)
# Tenants' notices differ mostly by zone and services, rarely by anything but the tenant's name:
# a notice is rendered once per shape with this token for the name, which each tenant's copy
# replaces (``portal.notify.render``). Letters and dashes only, so escaping never alters it.
TENANT_SLOT = "x-forewarn-tenant-name-slot"
# Kinds whose rendering is shared by tenants of the same shape (the staff kinds name the
# tenant in their subject and are few).
SHAPED_KINDS = (NOTICE, SUBSCRIPTION, REMINDER)
CUSTOMER_KINDS = (NOTICE, SUBSCRIPTION, REMINDER)


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


def _content(row: OutboxMessage, ctx: BatchContext) -> RevisionContent:
    """The content the row's revision published (the current state only if it has none)."""
    content = ctx.contents.get((row.change_id, row.revision_number))
    if content is None:  # an outbox row always names a revision; keep rendering regardless
        change = ctx.changes[row.change_id]
        content = content_of(change.id, row.revision_number, "update", snapshot(change))
        ctx.contents[(row.change_id, row.revision_number)] = content
    return content


def _previous(content: RevisionContent, ctx: BatchContext) -> RevisionContent | None:
    """The content published before ``content`` (by a publish or update revision)."""
    for number in range(content.number - 1, 0, -1):
        earlier = ctx.contents.get((content.id, number))
        if earlier is not None and earlier.kind in CONTENT_KINDS:
            return earlier
    return None


def starts_clock(row: OutboxMessage, ctx: BatchContext) -> bool:
    """Whether delivering this row starts the tenant's notice clock (its clock revision)."""
    if row.kind != NOTICE and row.kind != SUBSCRIPTION:
        return False
    state = ctx.tenant_rows.get((row.change_id, row.tenant_id))
    return (
        state is not None
        and state.active
        and state.clock_revision == row.revision_number
        and row.note != NO_LONGER_AFFECTED
    )


def cancellation_reason(revision: Revision | None) -> str:
    """The reason a cancel revision gave ("" when none was written)."""
    if revision is None or revision.kind != "cancel":
        return ""
    return "" if revision.summary in ("", "cancelled") else revision.summary


def ack_wanted(row: OutboxMessage, change: Change, revision_kind: str) -> bool:
    """An acknowledge link only where it works and makes sense: in a notice contact's notice
    or reminder (the signed link names a notice contact; an optional copy to an opted-in
    user gets none) of new content (publish or update; not a cancellation, start or
    completion, nor a "no longer affects you"), while the acknowledgements service takes
    acknowledgements of the change (``acks.services.accepts_acknowledgements``: a notice sent
    after the start, to a tenant that joined late or after a retry, carries a link that
    works)."""
    return (
        row.kind in (NOTICE, REMINDER)
        and revision_kind in CONTENT_KINDS
        and row.note != NO_LONGER_AFFECTED
        and ack_rules.accepts_acknowledgements(change)
    )


def action_wanted(row: OutboxMessage, change: Change, revision_kind: str) -> bool:
    """Whether the notice asks the tenant to act: a customer notice or reminder of new
    content that affects it, while the change is still scheduled (then "what you need to
    do", the act-by and the subject's tag apply)."""
    return (
        row.kind in CUSTOMER_KINDS
        and revision_kind in CONTENT_KINDS
        and row.note != NO_LONGER_AFFECTED
        and change.status == "scheduled"
    )


def affected_for(
    content: RevisionContent, usage: Set[tuple[str, str | None]]
) -> list[tuple[str, str | None]]:
    """The revision's targets as the tenant meets them: a touched whole service it uses,
    the touched components it uses (all of a service's touched components when it uses the
    whole service; the components it uses when the whole service is touched). Every target
    when the tenant uses none of them (a tenant the revision dropped, staff)."""
    used_whole = {s for s, c in usage if c is None}
    shown: list[tuple[str, str | None]] = []
    for service, component in content.targets:
        if component is None:
            if service in used_whole:
                shown.append((service, None))
            else:
                shown.extend(sorted((s, c) for s, c in usage if s == service and c is not None))
        elif service in used_whole or (service, component) in usage:
            shown.append((service, component))
    return list(dict.fromkeys(shown)) or list(content.targets)


def affected_lines(
    targets: list[tuple[str, str | None]], ctx: BatchContext
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(service name, its component names: () for the whole service), by service name."""
    grouped: dict[str, list[str]] = {}
    whole: set[str] = set()
    for service, component in targets:
        name = ctx.service_names.get(service, service)
        grouped.setdefault(name, [])
        if component is None:
            whole.add(name)
        else:
            label = target_label((service, component), {}, ctx.component_names)
            grouped[name].append(label.split(": ", 1)[1])
    return tuple(
        (name, () if name in whole else tuple(sorted(parts)))
        for name, parts in sorted(grouped.items())
    )


def owed_by(basis: str, impacts: dict[str, str]) -> str:
    """In the customer's words, the rule behind the notice it is owed: "your contract
    (MSA-7)", "the service's notice policy", "our notice policy for degradation"; the
    strictest rule wins, a contract first on a tie (as ``rules.Blocker.source``)."""
    try:
        items = [b for b in json.loads(basis or "[]") if isinstance(b, dict)]
    except ValueError:
        items = []
    if not items:
        return "our notice policy"
    best = max(items, key=lambda b: (b.get("seconds", 0), b.get("source") == "contract"))
    if best.get("source") == "contract":
        ref = best.get("reference") or ""
        return f"your contract ({ref})" if ref else "your contract"
    if best.get("source") == "service_policy":
        return "the service's notice policy"
    impact = impacts.get(best.get("impact", ""), best.get("impact", ""))
    return f"our notice policy for {subjects.lower_first(impact)}" if impact else "our policy"


# Inline styles for sanitised Markdown in mails (clients drop <style> blocks): the sanitiser
# (``render_markdown``) emits these tags without attributes, ``<a`` with href/title/rel only.
_EMAIL_TAG_STYLES = {
    "<p>": '<p style="margin:0 0 12px;">',
    "<ul>": '<ul style="margin:0 0 12px; padding-left:22px;">',
    "<ol>": '<ol style="margin:0 0 12px; padding-left:22px;">',
    "<li>": '<li style="margin:0 0 4px;">',
    "<blockquote>": (
        '<blockquote style="margin:0 0 12px; padding:0 0 0 12px; border-left:3px solid #d0d7de;'
        ' color:#4a5a6a;">'
    ),
    "<pre>": (
        '<pre style="margin:0 0 12px; padding:8px; background-color:#f3f5f7; white-space:pre-wrap;'
        " word-wrap:break-word; overflow-wrap:anywhere; font-family:Consolas, Menlo, monospace;"
        ' font-size:13px;">'
    ),
    "<code>": '<code style="font-family:Consolas, Menlo, monospace; font-size:13px;">',
    "<table>": (
        '<table style="border-collapse:collapse; width:100%; table-layout:fixed;'
        ' margin:0 0 12px; font-size:14px;">'
    ),
    "<th>": '<th style="border:1px solid #d0d7de; padding:4px 6px; text-align:left;">',
    "<td>": (
        '<td style="border:1px solid #d0d7de; padding:4px 6px; word-wrap:break-word;'
        ' overflow-wrap:anywhere;">'
    ),
    "<h1>": '<h3 style="margin:16px 0 8px; font-size:17px;">',
    "</h1>": "</h3>",
    "<h2>": '<h3 style="margin:16px 0 8px; font-size:16px;">',
    "</h2>": "</h3>",
    "<h3>": '<h3 style="margin:16px 0 8px; font-size:15px;">',
    "<h4>": '<h4 style="margin:12px 0 6px; font-size:14px;">',
}


def email_markdown(source: str, accent: str) -> Markup:
    """Markdown sanitised exactly as on the pages (``render_markdown``), with inline styles
    for mail clients; headings start at level 3, below the notice's own."""
    html = str(render_markdown(source))
    for tag, styled in _EMAIL_TAG_STYLES.items():
        html = html.replace(tag, styled)
    html = html.replace("<a ", f'<a style="color:{accent}; word-break:break-word;" ')
    return Markup(html)  # noqa: S704  (sanitised by render_markdown; styles are constants)


def _markdown_html(ctx: BatchContext, content: RevisionContent, which: str) -> Markup:
    """The revision's ``body_md`` or ``customer_action`` as mail HTML, once per batch."""
    key = (content.id, content.number, which)
    html = ctx.body_html.get(key)
    if html is None:
        source = content.body_md if which == "body" else content.customer_action
        html = ctx.body_html[key] = email_markdown(source, ctx.brand.accent)
    return html


@functools.lru_cache(maxsize=4096)
def _when(when: dt.datetime | None, zone: str) -> str:
    """``format_when_and_utc``, remembered: a batch's tenants share a few zones and times."""
    return format_when_and_utc(when, zone)


def _tenant_facts(row: OutboxMessage, ctx: BatchContext, zone: str) -> dict:
    """Values that differ between tenants of the same revision (beside the name): hashable,
    so that equal facts share one rendering."""
    content = _content(row, ctx)
    state = ctx.tenant_rows.get((row.change_id, row.tenant_id))
    usage = frozenset(ctx.usage.get(row.tenant_id, ())) if row.tenant_id is not None else None
    key = (content.id, content.number, usage)
    affected = ctx.affected.get(key)
    if affected is None:  # tenants of a batch use few combinations of services
        affected = ctx.affected[key] = affected_lines(affected_for(content, usage or set()), ctx)
    breach = ctx.breaches.get((row.change_id, row.tenant_id, row.revision_number))
    return {
        "zone": zone,
        "affected": affected,
        "clock_starts": starts_clock(row, ctx),
        "started_at": state.started_at if state is not None else None,
        "breach": breach,
        "owed_by": owed_by(state.basis, ctx.impacts) if breach and state else "",
    }


def template_context(row: OutboxMessage, ctx: BatchContext, tenant_name: str) -> dict:
    """The variables an email template sees (all hashable: equal contexts render equally).

    ``change`` is the row's revision content (``RevisionContent``), never the change's
    current state; ``tenant_name`` is the tenant's name or ``TENANT_SLOT``.
    """
    change = ctx.changes[row.change_id]
    content = _content(row, ctx)
    tenant = ctx.tenants.get(row.tenant_id) if row.tenant_id is not None else None
    revision = ctx.revisions.get((row.change_id, row.revision_number))
    kind = revision.kind if revision is not None else "update"
    zone = (tenant.time_zone if tenant is not None else None) or "UTC"
    facts = _tenant_facts(row, ctx, zone)
    now = get_clock().now()
    brand = ctx.brand
    impact = ctx.impacts.get(content.impact, content.impact)
    service_names = tuple(name for name, _parts in facts["affected"])
    note = row.note if row.note in (NO_LONGER_AFFECTED, NOW_AFFECTED, RESENT) else ""
    previous = _previous(content, ctx) if kind == "update" else None
    changes = (
        what_changed(previous, content, zone, ctx.impacts, ctx.service_names, ctx.component_names)
        if row.kind in (NOTICE, SUBSCRIPTION) and kind == "update" and not note
        else []
    )
    asks_action = action_wanted(row, change, kind) and bool(content.customer_action.strip())
    wants_ack = ack_wanted(row, change, kind)
    tag = ""
    if row.kind in CUSTOMER_KINDS and action_wanted(row, change, kind):
        tag = subjects.action_tag(
            action=asks_action,
            act_by=content.act_by,
            ack_required=content.ack_required and wants_ack,
            starts_at=content.starts_at,
            zone=zone,
            now=now,
        )
    at = revision.created_at if revision is not None else now
    started_at = facts["started_at"] or (at if kind == "start" else None)
    headline_time = {"start": started_at, "complete": at}.get(kind) or content.starts_at
    when_subject = subjects.subject_time(headline_time, zone)
    left = remaining(content.starts_at, now) if row.kind in (REMINDER, ESCALATION) else ""
    restarts = bool(
        facts["clock_starts"] and kind == "update" and revision is not None and revision.material
    )
    headline = ""  # the subject without its tag and title, heading the notice
    if row.kind == REMINDER:
        subject = subjects.reminder_subject(
            tag, impact, service_names, left, when_subject, content.title
        )
        headline = subjects.reminder_subject("", impact, service_names, left, when_subject)
    elif row.kind in (NOTICE, SUBSCRIPTION):
        lead = subjects.notice_lead(
            kind,
            impact,
            tagged=bool(tag),
            short_notice=facts["breach"] is not None and kind == "publish",
            rescheduled=moved(previous, content),
            restarts=restarts,
            now_affected=note == NOW_AFFECTED,
            no_longer_affected=note == NO_LONGER_AFFECTED,
        )
        subject = subjects.notice_subject(tag, lead, service_names, when_subject, content.title)
        headline = subjects.notice_subject("", lead, service_names, when_subject)
    else:
        subject = subjects.staff_subject(
            row.kind,
            tenant_name,
            content.title,
            subjects.subject_time(content.starts_at, zone) if row.kind == ESCALATION else "",
        )
    breach = facts["breach"]
    short = breach is not None and kind in CONTENT_KINDS
    values = {
        "brand": brand,
        "subject": subject,
        "tag": tag,
        "headline": headline or subject,
        "kind": row.kind,
        "revision_kind": kind,
        "revision_number": row.revision_number,
        "material": bool(revision is not None and revision.material),
        "tenant_name": tenant_name,
        "change": content,
        "change_status": change.status,
        "zone": zone,
        "zone_offset": offset_label(content.starts_at.astimezone(get_zone(zone)), zone),
        "note": note,
        "free_note": row.note if not note else "",
        "what_changed": tuple(changes),
        "rescheduled": moved(previous, content),
        "restarts": restarts,
        "clock_starts": bool(facts["clock_starts"] and kind in CONTENT_KINDS),
        "reason": cancellation_reason(revision),
        "short_notice": (
            (
                format_duration(breach.required_seconds),
                format_duration(max(0, breach.given_seconds)),
                facts["owed_by"],
                breach.justification,
            )
            if short
            else None
        ),
        "starts": _when(content.starts_at, zone),
        "ends": _when(content.ends_at, zone),
        "starts_relative": time_until(content.starts_at, now),
        "started": _when(started_at, zone) if started_at else "",
        "event": _when(at, zone),
        "impact": impact,
        "affected": facts["affected"],
        "asks_action": asks_action,
        "action_html": _markdown_html(ctx, content, "action") if asks_action else Markup(""),
        "act_by": _when(content.act_by, zone) if asks_action and content.act_by else "",
        "act_by_relative": (
            time_until(content.act_by, now) if asks_action and content.act_by else ""
        ),
        "ack_required": bool(content.ack_required and wants_ack),
        # An opted-in reader's copy has no link; its organisation's contacts are asked.
        "contacts_ack": bool(
            content.ack_required and not wants_ack and action_wanted(row, change, kind)
        ),
        "body_html": _markdown_html(ctx, content, "body"),
        "time_left": left,
        "optional": row.optional,
        "change_url": ctx.change_urls[change.id],
        "feeds_url": ctx.feeds_url,
        "preferences_url": ctx.preferences_url,
        "ack_url": ACK_SLOT if wants_ack else None,
        "unsubscribe_url": UNSUBSCRIBE_SLOT if row.optional else None,
        "team_name": change.team.name if row.kind == APPROVAL else "",
        "internal": row.kind in (ESCALATION, OBJECTION, APPROVAL, NOTICE_FAILED),
        **escalation_extras(row, change, tenant, zone),
    }
    values["intro"] = intro(values, brand.name, short=short, left=left)
    values["notes"] = notes(values, resent=row.note == RESENT)
    values["when_rows"] = when_rows(values)
    values["nothing_to_do"] = nothing_to_do(values)
    return values


def time_until(when: dt.datetime, now: dt.datetime) -> str:
    """ "in 23 h 50 min": the real time left, to the minute, as reminders state it in their
    subject (``remaining``); "2 h ago" once it has passed."""
    if when > now:
        return f"in {remaining(when, now)}"
    return relative_to(when, now)


def intro(values: dict, provider: str, *, short: bool, left: str) -> str:
    """The sentence under the title saying what this notice is (DESIGN.md "What customers
    read": each kind says what is specific to it)."""
    who = values["tenant_name"] or "your organisation"
    kind, note = values["revision_kind"], values["note"]
    if note == NO_LONGER_AFFECTED:
        return (
            f"This change no longer affects {who}: it no longer touches services you use. "
            "Nothing will happen to you; you need not do anything."
        )
    if note == NOW_AFFECTED:
        return (
            f"This change now affects {who}: it touches services you use. "
            "Your notice period starts from this message."
        )
    if values["kind"] == REMINDER:
        text = f"A reminder: this change starts in {left}, and {who} has not acknowledged it yet."
        return text + (" An acknowledgement is required." if values["ack_required"] else "")
    if kind == "publish":
        article = "a short-notice (emergency) change" if short else "a change"
        return f"{provider} has scheduled {article} to services {who} uses."
    if kind == "cancel":
        return "This change has been cancelled; it will not happen."
    if kind == "start":
        return f"This change has started for {who}."
    if kind == "complete":
        return "This change is complete."
    if values["restarts"]:
        return "This change was revised materially; your notice period restarts from this message."
    return "This change was rescheduled." if values["rescheduled"] else "This change was updated."


def notes(values: dict, *, resent: bool) -> tuple[str, ...]:
    """Further sentences about the tenant's notice period."""
    if resent:
        return (
            "Our earlier notice of this change could not be delivered; this is that notice "
            "again. Your notice period starts from this message.",
        )
    if (
        values["clock_starts"]
        and values["revision_kind"] == "update"
        and not values["material"]
        and not values["note"]
    ):
        return (
            "Your notice period starts from this message (the earlier notice did not reach you).",
        )
    return ()


def when_rows(values: dict) -> tuple[tuple[str, str], ...]:
    """(label, time) lines of the "When" section, in the tenant's zone and UTC."""
    kind = values["revision_kind"]
    starts = values["starts"]
    if values["starts_relative"] and kind in CONTENT_KINDS:
        starts = f"{starts}, {values['starts_relative']}"
    if kind == "cancel":
        return (("Was to start", values["starts"]), ("Was to end", values["ends"]))
    if kind == "start":
        return (
            ("Started", values["started"]),
            ("Planned start", values["starts"]),
            ("Ends", values["ends"]),
        )
    if kind == "complete":
        return (
            ("Completed", values["event"]),
            ("Started", values["started"]),
            ("Planned end", values["ends"]),
        )
    return (("Starts", starts), ("Ends", values["ends"]))


def nothing_to_do(values: dict) -> str:
    """What "What you need to do" says when nothing is asked."""
    kind = values["revision_kind"]
    if values["note"] == NO_LONGER_AFFECTED or kind == "cancel":
        return "Nothing."
    if values["contacts_ack"]:
        return (
            "Nothing yourself: your organisation's notice contacts are asked to acknowledge "
            f"this change by {values['starts']}."
        )
    return "Nothing is required of you."


def escalation_extras(row: OutboxMessage, change: Change, tenant: Tenant | None, zone: str) -> dict:
    """What an account manager needs to chase a silent tenant (issue #16 item 3): its notice
    contacts with when each was given this revision's notice (the tenant's zone and UTC;
    None = not delivered) and a link to the desk's matrix filtered to that tenant. One
    statement per escalation rendering (once per tenant, shared by its account managers)."""
    if row.kind != ESCALATION or tenant is None:
        return {"contacts": (), "desk_url": ""}
    delivered = (
        select(OutboxMessage.recipient, func.min(OutboxMessage.sent_at))
        .where(
            OutboxMessage.change_id == change.id,
            OutboxMessage.tenant_id == tenant.id,
            OutboxMessage.kind == NOTICE,
        )
        .group_by(OutboxMessage.recipient)
        .subquery()
    )
    contacts = db.session.execute(
        select(NoticeContact.email, NoticeContact.name, delivered.c[1])
        .outerjoin(delivered, delivered.c.recipient == func.lower(NoticeContact.email))
        .where(NoticeContact.tenant_id == tenant.id)
        .order_by(NoticeContact.id)
    ).all()
    base = current_app.config["BASE_URL"].rstrip("/")
    query = urlencode({"filter": "not_acknowledged", "q": tenant.slug})
    return {
        "contacts": tuple(
            (email, name, format_when_and_utc(at, zone) if at else None)
            for email, name, at in contacts
        ),
        "desk_url": f"{base}/desk/changes/{change.id}?{query}",
    }
