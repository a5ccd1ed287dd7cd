"""The demo mailbox: browse the mail the embedded SMTP sink caught. Demo mode only."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user, login_required

from portal.extensions import db
from portal.mailbox.forms import MailSearchForm
from portal.mailbox.services import get_mail_or_404, linkify_text, mailbox_page_query, view_of

bp = Blueprint("mailbox", __name__, url_prefix="/mailbox")


@bp.before_request
def demo_only():
    """Outside demo mode the mailbox does not exist."""
    if not current_app.config.get("DEMO"):
        abort(404)


@bp.get("/")
@login_required
def index():
    """Caught mail the user may read, newest first, searchable and paginated."""
    form = MailSearchForm(formdata=request.args)
    search = form.q.data if form.validate() else ""
    page = db.paginate(
        mailbox_page_query(current_user, search or ""),
        page=request.args.get("page", 1, type=int),
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
    return render_template("mailbox/index.html", form=form, page=page, search=search or "")


@bp.get("/<int:mail_id>")
@login_required
def message(mail_id: int):
    """One message: envelope, headers, text part and the sanitised HTML part."""
    mail = get_mail_or_404(mail_id, current_user)
    view = view_of(mail)
    return render_template(
        "mailbox/message.html",
        mail=mail,
        view=view,
        text_html=linkify_text(view.text) if view.text else None,
    )


@bp.get("/<int:mail_id>.eml")
@login_required
def raw(mail_id: int):
    """The message exactly as received, as plain text (never rendered by the browser)."""
    mail = get_mail_or_404(mail_id, current_user)
    return Response(
        mail.raw,
        mimetype="text/plain",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Content-Disposition": f'inline; filename="mail-{mail.id}.eml"',
        },
    )
