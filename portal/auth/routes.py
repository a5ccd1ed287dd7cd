"""Signing in and out, the profile page and personal API tokens."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth.forms import EmptyForm, LoginForm, PasswordChangeForm, ProfileForm, TokenForm
from portal.auth.models import User
from portal.auth.passwords import check_new_password
from portal.auth.services import (
    authenticate,
    is_safe_next,
    issue_token,
    revoke_token,
    tokens_of,
)
from portal.clock import now
from portal.errors import DomainError, InvalidInput
from portal.extensions import db, login_manager, rate_limited
from portal.inputs import parse_id
from portal.web.submit import commit_or_show

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str):
    """The user of a session or remember cookie id ``"<id>.<generation>"`` (``User.get_id``);
    None once the generation has moved on (sign-out, password change) or the user is inactive.
    A bare ``"<id>"`` (cookies from before generations existed) stands for generation 0."""
    number, _, generation = user_id.partition(".")
    generation = generation or "0"
    user_number = parse_id(number)
    if len(user_id) > 40 or user_number is None:
        return None
    if not (generation.isascii() and generation.isdecimal()):
        return None
    user = db.session.get(User, user_number)
    if user is None or not user.active or int(generation) != (user.session_generation or 0):
        return None
    return user


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _account_key() -> str:
    """The limiter's key for the account a sign-in attempt names (lower-cased e-mail)."""
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed(response) -> bool:
    """Only refused attempts count towards the limits; a successful sign-in never does."""
    return response.status_code == 400


@bp.route("/login", methods=["GET", "POST"])
@rate_limited(_login_limit, methods=["POST"], deduct_when=_failed)
@rate_limited(_account_limit, methods=["POST"], deduct_when=_failed, key_func=_account_key)
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


@bp.before_app_request
def require_own_password():
    """A user signed in with a temporary password sees only the profile page (to choose
    their own password) until they have; sign-out and static files stay reachable."""
    if request.endpoint in PASSWORD_CHANGE_ENDPOINTS or request.path.startswith("/api/"):
        return None
    if "_user_id" not in session and not request.cookies.get(
        current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    ):
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        flash("Choose your own password to continue.", "info")
        return redirect(url_for("auth.profile"))
    return None


PASSWORD_CHANGE_ENDPOINTS = {"auth.profile", "auth.change_password", "auth.logout", "static"}


@bp.post("/logout")
@login_required
def logout():
    """Sign out: ends this session, and with it every session and remember cookie of the
    user (their session generation moves on), so a copied cookie is worthless too."""
    if EmptyForm().validate_on_submit():
        current_user.end_sessions()
        db.session.commit()
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
    """Change one's own password: ends every other session and remember cookie of the user;
    this session goes on under the new generation."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            try:
                check_new_password(
                    form.new.data, email=current_user.email, name=current_user.name, field="new"
                )
            except InvalidInput as err:
                form.new.errors.append(err.message)
            else:
                remember = bool(
                    request.cookies.get(
                        current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
                    )
                )
                user = current_user._get_current_object()
                user.set_password(form.new.data)
                user.must_change_password = False
                user.end_sessions()
                db.session.commit()
                login_user(user, remember=remember)
                flash("Password changed. Your other sessions have been signed out.", "success")
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
        days = form.days.data or current_app.config["API_TOKEN_DEFAULT_DAYS"] or None
        issued = commit_or_show(
            form,
            lambda: issue_token(current_user, form.name.data, now=now(), days=days),
            field="name",
        )
        if not isinstance(issued, DomainError):
            _, secret = issued
    page = db.paginate(
        tokens_of(current_user),
        per_page=current_app.config["TOKEN_PAGE_SIZE"],
        error_out=False,
    )
    status = 400 if form.errors else 200
    return render_template(
        "auth/tokens.html",
        form=form,
        tokens=page.items,
        page=page,
        secret=secret,
        revoke_form=EmptyForm(),
    ), status


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    if EmptyForm().validate_on_submit():
        revoke_token(current_user, token_id, now=now())
        db.session.commit()
        flash("Token revoked. Anything using it is locked out from now on.", "success")
    return redirect(url_for("auth.tokens"))
