"""Web routes of the feeds feature.

- ``/feeds``: a customer's feed settings (tokens, feed URLs, recent fetches); tenant admins
  issue, rotate and revoke tokens.
- ``/feeds/t/<secret>/changes.<fmt>``: a tenant's private RSS, Atom or iCalendar feed.
- ``/public/changes`` (paginated), ``/public/changes/<id>`` (a public change; 404 for any
  other) and ``/public/services/<slug>/changes.<fmt>``: public, no login.
- ``/feeds/upstream``: platform engineers register upstream changelog feeds to import.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.access import has_role, roles_required
from portal.auth.forms import EmptyForm
from portal.catalog.models import Service
from portal.changes.asks import action_ask
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db
from portal.feeds import builders, public, tokens, upstream
from portal.feeds.content import service_scope
from portal.feeds.forms import FeedTokenForm, UpstreamFeedForm
from portal.feeds.receipts import tenant_receipts
from portal.feeds.responses import feed_response, private_feed_response
from portal.inputs import parse_id
from portal.web.submit import commit, commit_or_show

bp = Blueprint("feeds", __name__)


def _own_tenant():
    if current_user.tenant is None:
        abort(404)
    return current_user.tenant


def feed_urls(secret: str) -> dict[str, str]:
    """The three private feed URLs of one secret, on the public base URL."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return {
        fmt: base + url_for("feeds.private_feed", secret=secret, fmt=fmt)
        for fmt in builders.FORMATS
    }


def _settings_page(form=None, secret=None, token=None, status=200):
    tenant = _own_tenant()
    page = db.paginate(
        tokens.tenant_tokens_query(tenant),
        per_page=current_app.config["TOKEN_PAGE_SIZE"],
        error_out=False,
    )
    return render_template(
        "feeds/settings.html",
        tenant=tenant,
        tokens=page.items,
        page=page,
        form=form or FeedTokenForm(),
        button_form=EmptyForm(),
        new_token=token,
        urls=feed_urls(secret) if secret else None,
        receipts=tenant_receipts(tenant.id),
    ), status


@bp.get("/feeds")
@login_required
def settings():
    if current_user.tenant is None:
        if has_role(current_user, "engineer", "admin"):
            return redirect(url_for("feeds.upstream_feeds"))
        abort(404)
    return _settings_page()


@bp.post("/feeds/tokens")
@roles_required("tenant_admin")
def issue():
    tenant = _own_tenant()
    form = FeedTokenForm()
    if not form.validate_on_submit():
        return _settings_page(form, status=400)
    issued = commit_or_show(
        form,
        lambda: tokens.issue_feed_token(tenant, form.name.data, actor=current_user, now=now()),
        field="name",
    )
    if isinstance(issued, DomainError):
        return _settings_page(form, status=400)
    token, secret = issued
    # Rendered, not redirected: the secret is shown this once and kept nowhere.
    return _settings_page(secret=secret, token=token)


def _checked_token_action():
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _own_tenant()


@bp.post("/feeds/tokens/<int:token_id>/rotate")
@roles_required("tenant_admin")
def rotate(token_id: int):
    tenant = _checked_token_action()
    rotated = commit(
        lambda: tokens.rotate_feed_token(tenant, token_id, actor=current_user, now=now())
    )
    if isinstance(rotated, DomainError):
        if rotated.status == 404:
            abort(404)
        flash(rotated.message, "error")
        return redirect(url_for("feeds.settings"))
    token, secret = rotated
    flash(
        f"The old URLs of {token.name!r} stopped working; give the reader the new ones.", "success"
    )
    return _settings_page(secret=secret, token=token)


@bp.post("/feeds/tokens/<int:token_id>/revoke")
@roles_required("tenant_admin")
def revoke(token_id: int):
    tenant = _checked_token_action()
    token = commit(
        lambda: tokens.revoke_feed_token(tenant, token_id, actor=current_user, now=now())
    )
    if isinstance(token, DomainError):  # unknown, another tenant's, or already revoked
        abort(404)
    flash(f"Feed token {token.name!r} revoked: its URLs answer 404 from now on.", "success")
    return redirect(url_for("feeds.settings"))


# --- the feeds themselves ----------------------------------------------------------------


@bp.get("/feeds/t/<secret>/changes.<fmt>")
def private_feed(secret: str, fmt: str):
    """A tenant's private feed. Unknown, revoked or malformed secrets are the same bare 404."""
    if fmt not in builders.FORMATS:
        abort(404)
    response = private_feed_response(secret, fmt)
    if response is None:
        abort(404)
    return response


@bp.get("/public/services/<slug>/changes.<fmt>")
def public_feed(slug: str, fmt: str):
    """A service's public feed: its published changes marked public. The slug must match
    whole: a longer one is another URL, a 404, never an alias of the feed."""
    if fmt not in builders.FORMATS:
        abort(404)
    service = db.session.execute(select(Service).where(Service.slug == slug)).scalar_one_or_none()
    if service is None:
        abort(404)
    self_url = current_app.config["BASE_URL"].rstrip("/") + url_for(
        "feeds.public_feed", slug=service.slug, fmt=fmt
    )
    return feed_response(service_scope(service), fmt, self_url=self_url)


@bp.get("/public/changes")
def public_changes():
    """Upcoming public changes, a page at a time, with each service's public feeds. No login.

    ``?page=N`` (1-based): anything but a whole number from 1 is a 400, a page past the last
    a 404."""
    number = parse_id(request.args.get("page", "1"))
    if number is None:
        abort(400, description="page must be a whole number from 1")
    page = db.paginate(
        public.upcoming_public_changes_query(now()),
        page=number,
        per_page=int(current_app.config["PAGE_SIZE"]),
        error_out=False,
        count=True,
    )
    if page.page > 1 and not page.items:
        abort(404)
    return render_template(
        "feeds/public.html", page=page, services=public.services_with_public_changes()
    )


@bp.get("/public/changes/<int:change_id>")
def public_change(change_id: int):
    """One public change, for anyone (public feeds link here). 404 unless it is published and
    public: drafts and "affected customers only" changes are not there at all."""
    change = public.public_change_or_none(change_id)
    if change is None:
        abort(404)
    services = sorted({t.service.id: t.service for t in change.targets}.values(), key=_name)
    return render_template(
        "public/change.html", change=change, services=services, ask=action_ask(change, now())
    )


def _name(service: Service) -> str:
    return service.name


# --- upstream import -----------------------------------------------------------------------


def _upstream_page(form=None, status=200):
    if form is None:
        form = UpstreamFeedForm()
        form.team_id.choices = [(t.id, t.name) for t in upstream.teams_for(current_user)]
    return render_template(
        "feeds/upstream.html",
        form=form,
        feeds=upstream.feeds_visible_to(current_user),
        button_form=EmptyForm(),
    ), status


@bp.route("/feeds/upstream", methods=["GET", "POST"])
@roles_required("engineer")
def upstream_feeds():
    if request.method == "GET":
        return _upstream_page()
    form = UpstreamFeedForm()
    form.team_id.choices = [(t.id, t.name) for t in upstream.teams_for(current_user)]
    if not form.validate_on_submit():
        return _upstream_page(form, 400)
    feed = commit_or_show(
        form,
        lambda: upstream.register_upstream_feed(
            current_user,
            team_id=form.team_id.data,
            name=form.name.data,
            url=form.url.data,
            now=now(),
        ),
        field="url",
    )
    if isinstance(feed, DomainError):
        return _upstream_page(form, 400)
    flash(
        f"{feed.name!r} registered; `forewarn feeds import` turns its new entries into "
        "drafts for your team to review.",
        "success",
    )
    return redirect(url_for("feeds.upstream_feeds"))


@bp.post("/feeds/upstream/<int:feed_id>/remove")
@roles_required("engineer")
def remove_upstream(feed_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    feed = commit(lambda: upstream.remove_upstream_feed(current_user, feed_id, now=now()))
    if isinstance(feed, DomainError):
        abort(404)
    flash(f"{feed.name!r} will no longer be imported.", "success")
    return redirect(url_for("feeds.upstream_feeds"))
