"""Signing in and out, the profile page and personal API tokens."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from portal.auth.forms import EmptyForm, LoginForm, PasswordChangeForm, ProfileForm, TokenForm
from portal.auth.models import ApiToken
from portal.auth.services import authenticate, is_safe_next, issue_token, revoke_token
from portal.clock import now
from portal.errors import DomainError
from portal.extensions import db, login_manager, rate_limited

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str):
    from portal.auth.models import User

    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.active else None


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@rate_limited(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append("Wrong email or password.")
        else:
            login_user(user, remember=form.remember.data)
            target = request.args.get("next")
            return redirect(target if is_safe_next(target) else url_for("web.home"))
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    if EmptyForm().validate_on_submit():
        logout_user()
        flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        current_user.name = form.name.data.strip()
        current_user.time_zone = (form.time_zone.data or "").strip() or None
        db.session.commit()
        flash("Profile saved.", "success")
        return redirect(url_for("auth.profile"))
    return render_template("auth/profile.html", form=form, password_form=PasswordChangeForm())


@bp.post("/profile/password")
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            current_user.set_password(form.new.data)
            db.session.commit()
            flash("Password changed.", "success")
            return redirect(url_for("auth.profile"))
    return render_template(
        "auth/profile.html", form=ProfileForm(obj=current_user), password_form=form
    ), 400


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        try:
            days = form.days.data or current_app.config["API_TOKEN_DEFAULT_DAYS"] or None
            token, secret = issue_token(current_user, form.name.data, now=now(), days=days)
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            form.name.errors.append(err.message)
    rows = (
        db.session.execute(
            select(ApiToken)
            .where(ApiToken.user_id == current_user.id)
            .order_by(ApiToken.created_at.desc())
        )
        .scalars()
        .all()
    )
    status = 400 if form.errors else 200
    return render_template(
        "auth/tokens.html", form=form, tokens=rows, secret=secret, revoke_form=EmptyForm()
    ), status


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    if EmptyForm().validate_on_submit():
        revoke_token(current_user, token_id, now=now())
        db.session.commit()
        flash("Token revoked. Anything using it is locked out from now on.", "success")
    return redirect(url_for("auth.tokens"))
