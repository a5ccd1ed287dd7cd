"""Turning outbox rows into email messages: templates, headers and threading.

Each message is rendered from a ``templates/email/<name>.txt`` and ``.html`` pair with the
values of ``portal.notify.context``, once per (revision, tenant, kind) and, for customer
notices, once per shape of tenant (``render_for_tenant``); per recipient only the link slots
are filled. The
``Message-ID`` is derived from the row's key, so a message re-sent after a crash is recognisably
the same message; later notices of a change thread under the recipient's first one.
"""

from __future__ import annotations

import copy
import hashlib
import re
from email.utils import formataddr, formatdate, parseaddr
from typing import NamedTuple

from flask import current_app
from flask_mail import Message
from markupsafe import escape

from portal.acks.links import acknowledge_url
from portal.inputs import one_line
from portal.ledger.witness import HEADER as CHECKPOINT_HEADER
from portal.ledger.witness import batch_checkpoint, stamp_text
from portal.notify import mime
from portal.notify.batch import (  # noqa: F401  (load_context re-exported: dispatch, bench, tests)
    BatchContext,
    load_context,
)
from portal.notify.context import (
    ACK_SLOT,
    SHAPED_KINDS,
    SLOTS,
    TENANT_SLOT,
    UNSUBSCRIBE_SLOT,
    template_context,
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
from portal.notify.plaintext import Links, markdown_text
from portal.notify.smtp import PLAIN_ADDRESS
from portal.notify.unsubscribe import unsubscribe_url

TEMPLATES = {
    NOTICE: "notice",
    SUBSCRIPTION: "notice",
    REMINDER: "notice",
    ESCALATION: "escalation",
    OBJECTION: "objection",
    APPROVAL: "approval",
    NOTICE_FAILED: "notice_failed",
}
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


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
            ("To", ", ".join(r if isinstance(r, str) else formataddr(r) for r in self.recipients)),
            ("Date", formatdate(self.date, localtime=True)),
            ("Message-ID", self.msgId),
            *(self.extra_headers or {}).items(),
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


def _rendering(values: dict, kind: str, checkpoint: str | None, slots: tuple[str, ...]) -> Rendered:
    """One rendering of ``values``: the text (with the checkpoint line) and HTML, both encoded
    once with ``slots`` left to fill per tenant or recipient."""
    text, html = _render(values, kind)
    text = stamp_text(text, checkpoint)
    return Rendered(
        values["subject"],
        text,
        html,
        values["ack_url"] is not None,
        mime.EncodedBody(text, slots),
        mime.EncodedBody(html, slots),
    )


def _render(values: dict, kind: str) -> tuple[str, str]:
    """The text and HTML bodies of one rendering. The text part's Markdown becomes plain
    text with its links numbered and listed at the end (``portal.notify.plaintext``); runs
    of blank lines the template leaves are folded."""
    env = current_app.jinja_env
    name = TEMPLATES[kind]
    links = Links()
    text = env.get_template(f"email/{name}.txt").render(
        values, links=links, as_text=lambda source: markdown_text(source, links)
    )
    text = _BLANK_LINES.sub("\n\n", _TRAILING_SPACE.sub("\n", text)).strip() + "\n"
    html = env.get_template(f"email/{name}.html").render(values)
    return text, html


def render_for_tenant(row: OutboxMessage, ctx: BatchContext, checkpoint: str | None) -> Rendered:
    """The row's rendering, shared by its tenant's recipients. Customer notices are rendered
    and encoded once per shape (equal template values but for the tenant's name, which a
    slot holds); each tenant's copy puts its name in and encodes only the lines naming it.
    Staff messages are rendered as they are."""
    tenant = ctx.tenants.get(row.tenant_id) if row.tenant_id is not None else None
    name = one_line(tenant.name) if tenant is not None else ""
    if row.kind not in SHAPED_KINDS or tenant is None:
        return _rendering(template_context(row, ctx, name), row.kind, checkpoint, SLOTS)
    values = template_context(row, ctx, TENANT_SLOT)
    shape = tuple(sorted(values.items()))
    shared = ctx.shapes.get(shape)
    if shared is None:
        shared = ctx.shapes[shape] = _rendering(values, row.kind, checkpoint, (*SLOTS, TENANT_SLOT))
    html_name = str(escape(name))
    return Rendered(
        shared.subject.replace(TENANT_SLOT, name),
        shared.text.replace(TENANT_SLOT, name),
        shared.html.replace(TENANT_SLOT, html_name),
        shared.has_ack,
        shared.text_qp.partial({TENANT_SLOT: name}),
        shared.html_qp.partial({TENANT_SLOT: html_name}),
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
        rendered = ctx.rendered[key] = render_for_tenant(row, ctx, checkpoint)
    links = {}
    if rendered.has_ack and row.tenant_id is not None:  # a notice or reminder, to a tenant
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
