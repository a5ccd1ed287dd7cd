"""Storing caught mail, deciding who may read it, and showing it safely.

Who sees what (demo only): admins see every message; a customer user sees mail addressed to
their tenant's notice contacts or users; other staff see mail addressed to themselves, and
platform engineers also the mail sent about their teams' changes (so whoever publishes sees the
notices go out; matched by the deterministic Message-ID, ``<change-ID.…>``). A message
outside that scope is a 404. Mail is outside text: headers are shown escaped, the HTML part only
after nh3 has sanitised it.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage

import nh3
from flask import abort
from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, CompoundSelect, Select, func, literal, or_, select, union
from sqlalchemy.orm import defer, selectinload

from portal.auth.models import User
from portal.changes.models import Change
from portal.extensions import db
from portal.mailbox.models import CaughtMail, CaughtMailRecipient
from portal.tenants.models import NoticeContact

# Headers worth showing on the message page, in this order.
SHOWN_HEADERS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Date",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "Auto-Submitted",
)

# Tags a notice email may reasonably use; everything else is stripped.
HTML_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
HTML_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},  # the provider's logo; CSP limits img-src
    "table": {"role", "width", "cellpadding", "cellspacing", "border", "bgcolor"},
    "td": {"colspan", "rowspan", "align", "valign", "width", "bgcolor"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
    "*": {"style"},
}
STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "font-size",
    "text-align",
    "text-decoration",
    "padding",
    "margin",
    "border",
    "border-collapse",
    "width",
    # What the notices' layout uses (templates/email): a hidden preview line, a fluid
    # column, section headings, the button. None of them can load anything.
    "border-top",
    "border-bottom",
    "border-left",
    "border-radius",
    "display",
    "font-family",
    "height",
    "letter-spacing",
    "line-height",
    "max-height",
    "max-width",
    "opacity",
    "overflow",
    "overflow-wrap",
    "table-layout",
    "text-transform",
    "vertical-align",
    "white-space",
    "word-break",
    "word-wrap",
}
URL = re.compile(r"https?://[^\s<>\"']+")


def _header(msg: EmailMessage, name: str, limit: int) -> str:
    try:
        value = msg.get(name, "")
    except (ValueError, TypeError, IndexError):  # a malformed header must not lose the message
        value = ""
    return " ".join(str(value).split())[:limit]


def parse_message(raw: bytes) -> EmailMessage:
    """The message as the standard library sees it (lenient with malformed input)."""
    return email.message_from_bytes(raw, policy=email.policy.default)


def store_caught_mail(
    *, mail_from: str, rcpt_tos: list[str], raw: bytes, now: dt.datetime
) -> CaughtMail:
    """Keep one accepted message and its envelope recipients. Flushes; the caller commits."""
    msg = parse_message(raw)
    mail = CaughtMail(
        received_at=now,
        mail_from=(mail_from or "")[:254],
        raw=raw,
        subject=_header(msg, "Subject", 500),
        message_id=_header(msg, "Message-ID", 500),
    )
    seen = set()
    for address in rcpt_tos:
        address = address.strip().lower()[:254]
        if address and address not in seen:
            seen.add(address)
            mail.recipients.append(CaughtMailRecipient(address=address))
    db.session.add(mail)
    db.session.flush()
    return mail


def addresses_visible_to(user: User) -> Select | CompoundSelect | None:
    """A SELECT of the recipient addresses ``user`` may read mail for; None means all."""
    if user.is_admin:
        return None
    if user.is_customer:
        contacts = select(func.lower(NoticeContact.email)).where(
            NoticeContact.tenant_id == user.tenant_id
        )
        users = select(func.lower(User.email)).where(User.tenant_id == user.tenant_id)
        return union(contacts, users)
    return select(literal(user.email.lower()))


def _team_change_ids(user: User) -> list[int]:
    """Ids of the changes owned by ``user``'s platform teams (none for customers). The demo
    has a handful; the mailbox does not exist outside the demo."""
    if user.is_customer or not user.memberships:
        return []
    teams = [m.team_id for m in user.memberships]
    return list(db.session.scalars(select(Change.id).where(Change.team_id.in_(teams))))


def mailbox_query(user: User, search: str = "") -> Select:
    """Caught mail ``user`` may read, newest first, optionally filtered by a search text."""
    q = select(CaughtMail).order_by(CaughtMail.received_at.desc(), CaughtMail.id.desc())
    addresses = addresses_visible_to(user)
    if addresses is not None:
        scope: list[ColumnElement[bool]] = [
            CaughtMail.id.in_(
                select(CaughtMailRecipient.mail_id).where(
                    CaughtMailRecipient.address.in_(addresses)
                )
            )
        ]
        scope += [
            CaughtMail.message_id.startswith(f"<change-{change_id}.", autoescape=True)
            for change_id in _team_change_ids(user)
        ]
        q = q.where(or_(*scope))
    search = (search or "").strip()
    if search:
        recipients = select(CaughtMailRecipient.mail_id).where(
            CaughtMailRecipient.address.icontains(search, autoescape=True)
        )
        q = q.where(
            or_(
                CaughtMail.subject.icontains(search, autoescape=True),
                CaughtMail.mail_from.icontains(search, autoescape=True),
                CaughtMail.message_id.icontains(search, autoescape=True),
                CaughtMail.id.in_(recipients),
            )
        )
    return q


def mailbox_page_query(user: User, search: str = "") -> Select:
    """``mailbox_query`` for the list: without the raw bytes (a row shows only headers) and
    with every listed message's recipients in one more statement, whatever the page size."""
    return mailbox_query(user, search).options(
        defer(CaughtMail.raw), selectinload(CaughtMail.recipients)
    )


def get_mail_or_404(mail_id: int, user: User) -> CaughtMail:
    """A caught message ``user`` may read, else 404 (existence never leaks)."""
    mail = db.session.execute(
        mailbox_query(user).where(CaughtMail.id == mail_id)
    ).scalar_one_or_none()
    if mail is None:
        abort(404)
    return mail


def sanitise_html(html: str) -> str:
    """Email HTML reduced to harmless markup: no scripts, handlers, forms or frames; images
    (a notice's logo) only from http(s) or relative URLs, which the page's CSP limits further."""
    return nh3.clean(
        html,
        tags=HTML_TAGS,
        attributes=HTML_ATTRIBUTES,
        filter_style_properties=STYLE_PROPERTIES,
        url_schemes={"http", "https", "mailto"},
        clean_content_tags={"script", "style", "title", "head"},
        link_rel="noopener noreferrer nofollow",
    )


def linkify_text(text: str) -> Markup:
    """Plain text, escaped, with its http(s) links made clickable."""
    escaped = str(escape(text))
    # Safe: the text is escaped first, and URL never matches quotes or angle brackets.
    return Markup(  # noqa: S704
        URL.sub(
            lambda m: f'<a href="{m.group(0)}" rel="noopener noreferrer">{m.group(0)}</a>', escaped
        )
    )


@dataclass
class MailView:
    """What the message page shows."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str | None = None
    html: str | None = None
    attachments: list[str] = field(default_factory=list)


def _content(part) -> str:
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset or broken encoding
        return (part.get_payload(decode=True) or b"").decode("utf-8", "replace")


def view_of(mail: CaughtMail) -> MailView:
    """Headers, the text part and the sanitised HTML part of a caught message."""
    msg = parse_message(mail.raw)
    view = MailView(
        headers=[
            (name, _header(msg, name, 2000)) for name in SHOWN_HEADERS if msg.get(name) is not None
        ]
    )
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part.get_content_disposition() == "attachment":
            view.attachments.append(part.get_filename() or ctype)
        elif ctype == "text/plain" and view.text is None:
            view.text = _content(part)
        elif ctype == "text/html" and view.html is None:
            view.html = sanitise_html(_content(part))
    return view
