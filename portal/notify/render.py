"""Turning outbox rows into email messages: templates, headers and threading.

Each message is rendered from a ``templates/email/<name>.txt`` and ``.html`` pair. The
``Message-ID`` is derived from the row's key, so a message re-sent after a crash is recognisably
the same message; later notices of a change thread under the recipient's first one.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from email.utils import formataddr, formatdate, parseaddr
from typing import NamedTuple
from urllib.parse import urlencode

from flask import current_app, url_for
from flask_mail import Message
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from portal.acks.links import acknowledge_url
from portal.catalog.models import Service, Usage
from portal.changes.models import Change, ChangeTenant, ImpactLevel, Revision
from portal.changes.services import snapshot
from portal.clock import get_clock
from portal.extensions import db
from portal.inputs import one_line
from portal.ledger.witness import HEADER as CHECKPOINT_HEADER
from portal.ledger.witness import batch_checkpoint, stamp_text
from portal.notify import mime
from portal.notify.content import (
    CONTENT_KINDS,
    NO_LONGER_AFFECTED,
    NOW_AFFECTED,
    RESENT,
    RevisionContent,
    content_of,
    remaining,
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
from portal.notify.unsubscribe import unsubscribe_url
from portal.templating import render_markdown
from portal.tenants.models import NoticeContact, Tenant
from portal.timezones import format_duration, format_in_zone, get_zone

TEMPLATES = {
    NOTICE: "notice",
    SUBSCRIPTION: "notice",
    REMINDER: "reminder",
    ESCALATION: "escalation",
    OBJECTION: "objection",
    APPROVAL: "approval",
    NOTICE_FAILED: "notice_failed",
}
HEADLINES = {
    "publish": "Scheduled",
    "update": "Updated",
    "cancel": "Cancelled",
    "start": "Started",
    "complete": "Completed",
}


# Per-recipient links are rendered as these slots once per (revision, tenant, kind), then
# replaced for each recipient: a tenant's contacts get the same text, only their links differ.
ACK_SLOT = "https://forewarn.invalid/slot/acknowledge"
UNSUBSCRIBE_SLOT = "https://forewarn.invalid/slot/unsubscribe"
SLOTS = (ACK_SLOT, UNSUBSCRIBE_SLOT)


class Rendered(NamedTuple):
    """One rendering of a notice, shared by the recipients of a (revision, tenant, kind): the
    subject, text (with the checkpoint line) and HTML with link slots, whether it has an
    acknowledge link, and both bodies quoted-printable encoded once (``mime.EncodedBody``)."""

    subject: str
    text: str
    html: str
    has_ack: bool
    text_qp: mime.EncodedBody
    html_qp: mime.EncodedBody


class NoticeMessage(Message):
    """Flask-Mail's message, serialised by ``portal.notify.mime`` with the standard library's
    ``email`` package and ``email.policy.SMTP`` (CRLF, RFC 2047), or ``SMTPUTF8`` when the
    recipient's address is internationalised (``smtputf8``; RFC 6531). Any other shape than
    ours (attachments, Cc, Reply-To) falls back to Flask-Mail's own serialisation."""

    smtputf8 = False  # the recipient's mailbox is not ASCII: needs the server's SMTPUTF8
    # (text, html, their quoted-printable encodings): set by ``build_message``, used while
    # ``body`` and ``html`` are still those very strings.
    encoded: tuple[str, str, str, str] | None = None

    def as_bytes(self) -> bytes:
        if self.attachments or list(self.alts) != ["html"] or self.cc or self.reply_to:
            return super().as_bytes()
        fields = [
            ("Subject", str(self.subject or "")),
            ("From", self.sender if isinstance(self.sender, str) else formataddr(self.sender)),
            ("To", ", ".join(self.recipients)),
            ("Date", formatdate(self.date, localtime=True)),
            ("Message-ID", self.msgId),
            *self.extra_headers.items(),
        ]
        encoded = self.encoded
        if encoded is not None and encoded[0] is self.body and encoded[1] is self.alts["html"]:
            return mime.serialise(fields, encoded[2:], BOUNDARY, utf8=self.smtputf8, encoded=True)
        body = (self.body or "", self.alts["html"] or "")
        return mime.serialise(fields, body, BOUNDARY, utf8=self.smtputf8)


# "=_" never occurs in quoted-printable text (RFC 2045 §6.7), so one boundary serves every
# message (RFC 2046 §5.1.1 asks only that it not occur in the parts).
BOUNDARY = "=_forewarn_alternative"


class BadRecipient(ValueError):
    """The recipient is not a usable email address (fails the row, never the batch)."""


def message_id(row: OutboxMessage) -> str:
    """The deterministic Message-ID of a row: same row, same id, on every attempt."""
    digest = hashlib.sha256(
        f"{row.recipient}|{row.kind}|{row.offset_seconds}".encode()
    ).hexdigest()[:16]
    domain = current_app.config.get("MAIL_MESSAGE_ID_DOMAIN", "forewarn")
    return (
        f"<change-{row.change_id}.rev-{row.revision_number}.tenant-{row.tenant_id}."
        f"{digest}@{domain}>"
    )


# A plain ASCII mailbox that ``parseaddr`` returns unchanged and that passes every check below;
# anything else (names, quotes, comments, non-ASCII) takes the full parse.
PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)


def check_address(address: str) -> str:
    """The address if it is a plain, single, header-safe mailbox, else BadRecipient."""
    if address and len(address) <= 254 and PLAIN_ADDRESS.fullmatch(address):
        return address
    name, addr = parseaddr(address or "")
    local, _, domain = addr.rpartition("@")
    if (
        not addr
        or addr != address.strip()
        or not local
        or "." not in domain
        or any(c.isspace() or ord(c) < 32 for c in address)
        or len(address) > 254
    ):
        raise BadRecipient(f"not a valid email address: {address!r}")
    return addr


def wire_address(address: str) -> tuple[str, bool]:
    """The checked address as it goes on the wire, and whether it needs SMTPUTF8: an IDN
    domain as punycode (IDNA, RFC 5890), and True when the mailbox (local part) is not
    ASCII (RFC 6531). Raises BadRecipient when the domain cannot be encoded."""
    if address.isascii():
        return address, False
    local, _, domain = address.rpartition("@")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise BadRecipient(f"not a valid email domain: {domain!r}") from None
    return f"{local}@{domain}", not local.isascii()


def address_warning(address: str) -> str | None:
    """What to tell whoever enters ``address`` as a notice contact when it may not be
    deliverable everywhere: a non-ASCII mailbox needs a relay offering SMTPUTF8 (RFC 6531);
    None for any other address (an IDN domain alone goes out as punycode)."""
    local = (address or "").rpartition("@")[0]
    if local.isascii():
        return None
    return (
        f"{address} is an internationalised address: notices reach it only through a mail "
        "server that offers SMTPUTF8 (RFC 6531). Where the server does not, its notices fail "
        "at once; add a contact with a plain ASCII address as well."
    )


@dataclass
class BatchContext:
    """Everything a batch of rows needs, loaded with a handful of queries."""

    changes: dict[int, Change] = field(default_factory=dict)
    revisions: dict[tuple[int, int], Revision] = field(default_factory=dict)
    # Each revision's own content (from its snapshot): what a notice of it says.
    contents: dict[tuple[int, int], RevisionContent] = field(default_factory=dict)
    tenants: dict[int, Tenant] = field(default_factory=dict)
    # (change, tenant) -> (clock revision, still affected)
    tenant_rows: dict[tuple[int, int], tuple[int, bool]] = field(default_factory=dict)
    impacts: dict[str, str] = field(default_factory=dict)
    service_names: dict[str, str] = field(default_factory=dict)  # slug -> name
    used_services: dict[int, set[str]] = field(default_factory=dict)  # tenant -> slugs used
    thread_roots: dict[tuple[int, int, str], OutboxMessage] = field(default_factory=dict)
    rendered: dict[tuple, Rendered] = field(default_factory=dict)
    prototypes: dict[str, NoticeMessage] = field(default_factory=dict)
    change_urls: dict[int, str] = field(default_factory=dict)
    body_html: dict[tuple[int, int], Markup] = field(default_factory=dict)
    times: dict[tuple[int, int, str], dict[str, str]] = field(default_factory=dict)
    feeds_url: str = ""
    preferences_url: str = ""


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
    """Preload changes, their revisions' contents, tenants (with their notice rows and the
    services they use) and thread roots."""
    ctx = BatchContext()
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
        (c, t): (rev, bool(active))
        for c, t, rev, active in db.session.execute(
            select(
                ChangeTenant.change_id,
                ChangeTenant.tenant_id,
                ChangeTenant.clock_revision,
                ChangeTenant.active,
            ).where(ChangeTenant.change_id.in_(change_ids), ChangeTenant.tenant_id.in_(tenant_ids))
        )
    }
    ctx.impacts = dict(db.session.execute(select(ImpactLevel.code, ImpactLevel.name)).all())
    slugs = {s for c in ctx.contents.values() for s in c.services}
    ctx.service_names = dict(
        db.session.execute(select(Service.slug, Service.name).where(Service.slug.in_(slugs))).all()
    )
    for tenant_id, slug in db.session.execute(
        select(Usage.tenant_id, Service.slug)
        .join(Service, Service.id == Usage.service_id)
        .where(Usage.tenant_id.in_(tenant_ids), Service.slug.in_(slugs))
    ):
        ctx.used_services.setdefault(tenant_id, set()).add(slug)
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
        and state[1]
        and state[0] == row.revision_number
        and row.note != NO_LONGER_AFFECTED
    )


def headline_for(row: OutboxMessage, revision: Revision | None, ctx: BatchContext) -> str:
    """The word the subject starts with, true for this tenant (DESIGN.md "What customers
    read"): "notice period restarts" only when its own clock restarts with this message."""
    if row.note == NO_LONGER_AFFECTED:
        return "No longer affects you"
    if row.note == NOW_AFFECTED:
        return "Now affects you"
    kind = revision.kind if revision is not None else "update"
    if kind == "update" and starts_clock(row, ctx) and revision is not None:
        return "Updated (notice period restarts)" if revision.material else "Updated"
    return HEADLINES.get(kind, "Updated")


def subject_for(
    row: OutboxMessage,
    change,
    revision: Revision | None,
    tenant: Tenant | None,
    *,
    headline: str = "",
    left: str = "",
) -> str:
    """The Subject header, always one line: titles and names are refused with control
    characters at input (``portal.inputs``), and rows stored before that are folded here.
    ``change`` is the revision's content, ``left`` the real time left before the start (for
    reminders), ``headline`` the tenant's own (``headline_for``)."""
    return one_line(_subject(row, change, revision, tenant, headline=headline, left=left))


def _subject(
    row: OutboxMessage,
    change,
    revision: Revision | None,
    tenant: Tenant | None,
    *,
    headline: str = "",
    left: str = "",
) -> str:
    if row.kind == REMINDER:
        return f"Reminder: {change.title} starts in {left or format_duration(row.offset_seconds)}"
    who = tenant.name if tenant is not None else "a customer"
    if row.kind == ESCALATION:
        return f"Not acknowledged by {who}: {change.title}"
    if row.kind == OBJECTION:
        return f"Objection from {who}: {change.title}"
    if row.kind == APPROVAL:
        return f"Emergency approval requested: {change.title}"
    if row.kind == NOTICE_FAILED:
        return f"Notice could not be delivered to {who}: {change.title}"
    if not headline:
        headline = HEADLINES.get(revision.kind if revision else "publish", "Updated")
    return f"{headline}: {change.title}"


def _times(content: RevisionContent, zone: str, ctx: BatchContext) -> dict[str, str]:
    key = (content.id, content.number, zone)
    times = ctx.times.get(key)
    if times is None:
        get_zone(zone, field="tenant time zone")
        times = ctx.times[key] = {
            "starts_local": format_in_zone(content.starts_at, zone),
            "starts_utc": format_in_zone(content.starts_at, "UTC"),
            "ends_local": format_in_zone(content.ends_at, zone),
            "ends_utc": format_in_zone(content.ends_at, "UTC"),
        }
    return times


def _services(content: RevisionContent, tenant_id: int | None, ctx: BatchContext) -> list[str]:
    """The revision's services the tenant uses (all of them for a tenant that uses none)."""
    used = ctx.used_services.get(tenant_id, set()) if tenant_id is not None else set()
    mine = [s for s in content.services if s in used] or list(content.services)
    return sorted(ctx.service_names.get(s, s) for s in mine)


def template_context(row: OutboxMessage, ctx: BatchContext) -> dict:
    """The variables an email template sees. ``change`` is the row's revision content
    (``RevisionContent``), never the change's current state."""
    change = ctx.changes[row.change_id]
    content = _content(row, ctx)
    tenant = ctx.tenants.get(row.tenant_id) if row.tenant_id is not None else None
    revision = ctx.revisions.get((row.change_id, row.revision_number))
    kind = revision.kind if revision is not None else "update"
    zone = (tenant.time_zone if tenant is not None else None) or "UTC"
    body_key = (content.id, content.number)
    if body_key not in ctx.body_html:  # rendered once per batch, not once per recipient
        ctx.body_html[body_key] = render_markdown(content.body_md)
    now = get_clock().now()
    left = remaining(content.starts_at, now) if row.kind == REMINDER else ""
    headline = headline_for(row, revision, ctx)
    changes = (
        what_changed(_previous(content, ctx), content, zone, ctx.impacts, ctx.service_names)
        if kind == "update" and row.note not in (NO_LONGER_AFFECTED, NOW_AFFECTED)
        else []
    )
    at = revision.created_at if revision is not None else now
    return {
        **_times(content, zone, ctx),
        "body_html": ctx.body_html[body_key],
        "row": row,
        "change": content,
        "change_status": change.status,
        "revision": revision,
        "revision_kind": kind,
        "tenant": tenant,
        "subject": subject_for(row, content, revision, tenant, headline=headline, left=left),
        "headline": headline,
        "what_changed": changes,
        "clock_starts": starts_clock(row, ctx) and kind in CONTENT_KINDS,
        "no_longer_affected": row.note == NO_LONGER_AFFECTED,
        "now_affected": row.note == NOW_AFFECTED,
        "resent": row.note == RESENT,
        "reason": cancellation_reason(revision),
        "event_local": format_in_zone(at, zone),
        "event_utc": format_in_zone(at, "UTC"),
        "time_left": left,
        "services": _services(content, row.tenant_id, ctx),
        "note": row.note or "",
        "impact": ctx.impacts.get(content.impact, content.impact),
        "zone": zone,
        "optional": row.optional,
        "change_url": ctx.change_urls[change.id],
        "feeds_url": ctx.feeds_url,
        "preferences_url": ctx.preferences_url,
        "ack_url": ACK_SLOT if ack_wanted(row, change, kind) else None,
        "team_name": change.team.name if row.kind == APPROVAL else "",
        **escalation_extras(row, change, tenant),
        "unsubscribe_url": UNSUBSCRIBE_SLOT if row.optional else None,
    }


def escalation_extras(row: OutboxMessage, change: Change, tenant: Tenant | None) -> dict:
    """What an account manager needs to chase a silent tenant (issue #16 item 3): its notice
    contacts with when each was given this revision's notice (UTC, None = not delivered) and
    a link to the desk's matrix filtered to that tenant. One statement per escalation."""
    if row.kind != ESCALATION or tenant is None:
        return {}
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
        "contacts": [
            (email, name, format_in_zone(at, "UTC") if at else None) for email, name, at in contacts
        ],
        "desk_url": f"{base}/desk/changes/{change.id}?{query}",
    }


def cancellation_reason(revision: Revision | None) -> str:
    """The reason a cancel revision gave ("" when none was written)."""
    if revision is None or revision.kind != "cancel":
        return ""
    return "" if revision.summary in ("", "cancelled") else revision.summary


def ack_wanted(row: OutboxMessage, change: Change, revision_kind: str) -> bool:
    """An acknowledge link only where it works and makes sense: in a notice contact's notice
    or reminder (the signed link names a notice contact; an optional copy to an opted-in
    user gets none) of new content (publish or update; not a cancellation, start or
    completion, nor a "no longer affects you"), while the change is still scheduled."""
    return (
        row.kind in (NOTICE, REMINDER)
        and revision_kind in CONTENT_KINDS
        and row.note != NO_LONGER_AFFECTED
        and change.status == "scheduled"
    )


def build_message(row: OutboxMessage, ctx: BatchContext) -> Message:
    """Render the row's email (text and HTML) with its headers; raises on bad data."""
    recipient, smtputf8 = wire_address(check_address(row.recipient))
    key = (
        row.change_id,
        row.revision_number,
        row.tenant_id,
        row.kind,
        row.offset_seconds,
        row.note,
    )
    checkpoint = batch_checkpoint(ctx)  # the latest ledger checkpoint (issue 13)
    rendered = ctx.rendered.get(key)
    if rendered is None:
        values = template_context(row, ctx)
        env = current_app.jinja_env
        name = TEMPLATES[row.kind]
        text = stamp_text(env.get_template(f"email/{name}.txt").render(values), checkpoint)
        html = env.get_template(f"email/{name}.html").render(values)
        rendered = ctx.rendered[key] = Rendered(
            values["subject"],
            text,
            html,
            values["ack_url"] is not None,
            mime.EncodedBody(text, SLOTS),
            mime.EncodedBody(html, SLOTS),
        )
    links = {}
    if rendered.has_ack:
        links[ACK_SLOT] = acknowledge_url(
            row.change_id, row.revision_number, row.tenant_id, row.recipient
        )
    unsubscribe = unsubscribe_url(row) if row.optional else None
    if unsubscribe:
        links[UNSUBSCRIBE_SLOT] = unsubscribe
    text, html = rendered.text, rendered.html
    for slot, link in links.items():
        text, html = text.replace(slot, link), html.replace(slot, link)
    subject = rendered.subject
    headers = {
        "Auto-Submitted": "auto-generated",
        "X-Forewarn-Change": str(row.change_id),
        "X-Forewarn-Kind": row.kind,
    }
    root = ctx.thread_roots.get((row.change_id, row.tenant_id, row.recipient))
    if root is not None and root.id != row.id:
        headers["In-Reply-To"] = headers["References"] = message_id(root)
    if row.optional:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # One Flask-Mail message per subject, copied for each recipient with the per-recipient
    # parts swapped: Message() looks up the host name for a Message-ID that we replace anyway,
    # which cost more per message than everything else here.
    prototype = ctx.prototypes.get(subject)
    if prototype is None:
        prototype = ctx.prototypes[subject] = NoticeMessage(subject=subject, recipients=[])
    msg = copy.copy(prototype)
    msg.recipients = [recipient]
    msg.smtputf8 = smtputf8
    msg.body = text
    msg.alts = {"html": html}  # ``html`` is a property over ``alts``: never share the dict
    msg.extra_headers = headers
    msg.msgId = message_id(row)
    msg.encoded = (text, html, rendered.text_qp.fill(links), rendered.html_qp.fill(links))
    if checkpoint is not None:
        headers[CHECKPOINT_HEADER] = checkpoint
    return msg
