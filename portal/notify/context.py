"""What a notice says to one tenant: the values its email templates show.

``template_context`` builds, once per rendering (revision, tenant, kind), from the batch's
preloaded data (``portal.notify.batch.load_context``), the values the ``templates/email`` pairs
show, in the order customers read them (issue 15 item 2; DESIGN.md "What customers read"):
what changes, when (the tenant's zone with its UTC offset, and UTC), the impact on the
tenant's own services and components, what the tenant needs to do and by when, the
acknowledge button, then the details. The sentences themselves are ``portal.notify.wording``'s.
Per recipient only the link slots are filled (``portal.notify.render.build_message``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Set
from urllib.parse import urlencode

from flask import current_app
from markupsafe import Markup
from sqlalchemy import func, select

from portal.acks import services as ack_rules
from portal.changes.models import Change
from portal.clock import get_clock
from portal.extensions import db
from portal.notify import subjects
from portal.notify.batch import BatchContext, content_for, previous_content
from portal.notify.content import (
    CONTENT_KINDS,
    NO_LONGER_AFFECTED,
    NOW_AFFECTED,
    RESENT,
    RevisionContent,
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
from portal.notify.wording import (
    cancellation_reason,
    email_markdown,
    intro,
    notes,
    nothing_to_do,
    owed_by,
    time_until,
    when_rows,
)
from portal.tenants.models import NoticeContact, Tenant
from portal.timezones import (
    format_duration,
    format_when_and_utc,
    get_zone,
    offset_label,
)

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
    content = content_for(row, ctx)
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
    content = content_for(row, ctx)
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
    previous = previous_content(content, ctx) if kind == "update" else None
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
