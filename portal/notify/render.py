"""Turning outbox rows into email messages: templates, headers and threading.

Each message is rendered from a ``templates/email/<name>.txt`` and ``.html`` pair. The
``Message-ID`` is derived from the row's key, so a message re-sent after a crash is recognisably
the same message; later notices of a change thread under the recipient's first one.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from email.utils import formataddr, formatdate, parseaddr

from flask import current_app, url_for
from flask_mail import Message
from markupsafe import Markup
from sqlalchemy import func, select
from werkzeug.routing import BuildError

from portal.acks.links import acknowledge_url
from portal.catalog.models import Service, Usage
from portal.changes.models import Change, ChangeTarget, ImpactLevel, Revision
from portal.extensions import db
from portal.notify import mime
from portal.notify.models import (
    ESCALATION,
    NOTICE,
    OBJECTION,
    REMINDER,
    STAFF_KINDS,
    SUBSCRIPTION,
    OutboxMessage,
)
from portal.notify.unsubscribe import unsubscribe_url
from portal.templating import render_markdown
from portal.tenants.models import Tenant
from portal.timezones import format_duration, format_in_zone, get_zone

TEMPLATES = {
    NOTICE: "notice",
    SUBSCRIPTION: "notice",
    REMINDER: "reminder",
    ESCALATION: "escalation",
    OBJECTION: "objection",
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


class NoticeMessage(Message):
    """Flask-Mail's message, serialised by ``portal.notify.mime`` with the standard library's
    ``email`` package and ``email.policy.SMTP`` (CRLF, RFC 2047), or ``SMTPUTF8`` when the
    recipient's address is internationalised (``smtputf8``; RFC 6531). Any other shape than
    ours (attachments, Cc, Reply-To) falls back to Flask-Mail's own serialisation."""

    smtputf8 = False  # the recipient's mailbox is not ASCII: needs the server's SMTPUTF8

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
    tenants: dict[int, Tenant] = field(default_factory=dict)
    impacts: dict[str, str] = field(default_factory=dict)
    services: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    thread_roots: dict[tuple[int, int, str], OutboxMessage] = field(default_factory=dict)
    rendered: dict[tuple, tuple[str, str, str, bool]] = field(default_factory=dict)
    prototypes: dict[str, NoticeMessage] = field(default_factory=dict)
    change_urls: dict[int, str] = field(default_factory=dict)
    body_html: dict[int, Markup] = field(default_factory=dict)
    times: dict[tuple[int, str], dict[str, str]] = field(default_factory=dict)
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
    """Preload changes, revisions, tenants, each tenant's affected services and thread roots."""
    ctx = BatchContext()
    change_ids = {r.change_id for r in rows}
    tenant_ids = {r.tenant_id for r in rows if r.tenant_id is not None}
    ctx.change_urls, ctx.feeds_url, ctx.preferences_url = external_urls(change_ids)
    ctx.changes = {
        c.id: c for c in db.session.scalars(select(Change).where(Change.id.in_(change_ids)))
    }
    # Rendered once per batch, not once per recipient.
    ctx.body_html = {c.id: render_markdown(c.body_md) for c in ctx.changes.values()}
    ctx.revisions = {
        (r.change_id, r.number): r
        for r in db.session.scalars(select(Revision).where(Revision.change_id.in_(change_ids)))
    }
    ctx.tenants = {
        t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)))
    }
    ctx.impacts = dict(db.session.execute(select(ImpactLevel.code, ImpactLevel.name)).all())
    names: dict[tuple[int, int], set[str]] = defaultdict(set)
    for change_id, tenant_id, name in db.session.execute(
        select(ChangeTarget.change_id, Usage.tenant_id, Service.name)
        .join(Usage, Usage.service_id == ChangeTarget.service_id)
        .join(Service, Service.id == ChangeTarget.service_id)
        .where(ChangeTarget.change_id.in_(change_ids), Usage.tenant_id.in_(tenant_ids))
    ):
        names[(change_id, tenant_id)].add(name)
    ctx.services = {k: sorted(v) for k, v in names.items()}
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


def subject_for(
    row: OutboxMessage, change: Change, revision: Revision | None, tenant: Tenant | None
) -> str:
    if row.kind == REMINDER:
        return f"Reminder: {change.title} starts in {format_duration(row.offset_seconds)}"
    who = tenant.name if tenant is not None else "a customer"
    if row.kind == ESCALATION:
        return f"Not acknowledged by {who}: {change.title}"
    if row.kind == OBJECTION:
        return f"Objection from {who}: {change.title}"
    headline = HEADLINES.get(revision.kind if revision else "publish", "Updated")
    if revision is not None and revision.kind == "update" and revision.material:
        headline = "Updated (notice period restarts)"
    return f"{headline}: {change.title}"


def template_context(row: OutboxMessage, ctx: BatchContext) -> dict:
    """The variables an email template sees."""
    change = ctx.changes[row.change_id]
    tenant = ctx.tenants.get(row.tenant_id) if row.tenant_id is not None else None
    revision = ctx.revisions.get((row.change_id, row.revision_number))
    to_tenant = row.kind not in STAFF_KINDS
    zone = (tenant.time_zone if tenant is not None else None) or "UTC"
    times = ctx.times.get((change.id, zone))
    if times is None:
        get_zone(zone, field="tenant time zone")
        times = ctx.times[(change.id, zone)] = {
            "starts_local": format_in_zone(change.starts_at, zone),
            "starts_utc": format_in_zone(change.starts_at, "UTC"),
            "ends_local": format_in_zone(change.ends_at, zone),
            "ends_utc": format_in_zone(change.ends_at, "UTC"),
        }
    return {
        **times,
        "body_html": ctx.body_html[change.id],
        "row": row,
        "change": change,
        "revision": revision,
        "tenant": tenant,
        "subject": subject_for(row, change, revision, tenant),
        "services": ctx.services.get((row.change_id, row.tenant_id), []),
        "note": row.note or "",
        "impact": ctx.impacts.get(change.impact, change.impact),
        "zone": zone,
        "optional": row.optional,
        "change_url": ctx.change_urls[change.id],
        "feeds_url": ctx.feeds_url,
        "preferences_url": ctx.preferences_url,
        "ack_url": ACK_SLOT if to_tenant and ack_wanted(change) else None,
        "unsubscribe_url": UNSUBSCRIBE_SLOT if row.optional else None,
    }


def ack_wanted(change: Change) -> bool:
    """An acknowledge link makes sense only before the change goes live."""
    return change.status == "scheduled"


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
    rendered = ctx.rendered.get(key)
    if rendered is None:
        values = template_context(row, ctx)
        env = current_app.jinja_env
        name = TEMPLATES[row.kind]
        rendered = ctx.rendered[key] = (
            values["subject"],
            env.get_template(f"email/{name}.txt").render(values),
            env.get_template(f"email/{name}.html").render(values),
            values["ack_url"] is not None,
        )
    subject, text, html, has_ack = rendered
    if has_ack:
        link = acknowledge_url(row.change_id, row.revision_number, row.tenant_id, row.recipient)
        text, html = text.replace(ACK_SLOT, link), html.replace(ACK_SLOT, link)
    unsubscribe = unsubscribe_url(row) if row.optional else None
    if unsubscribe:
        text = text.replace(UNSUBSCRIBE_SLOT, unsubscribe)
        html = html.replace(UNSUBSCRIBE_SLOT, unsubscribe)
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
    return msg
