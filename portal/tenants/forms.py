"""Forms for managing tenants, contacts, usage, account managers and user accounts.

The services re-check every rule; these forms give the first, field-by-field answer.
``show_error`` puts a service's refusal on the field it names; ``required`` hands a view the
value of a field its validators made required.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from portal.errors import DomainError, InvalidInput
from portal.timezones import is_zone

PASSWORD_HINT = "At least 12 characters. Pass it on safely; the user changes it on their profile."  # noqa: S105


T = TypeVar("T", covariant=True)


class _Filled(Protocol[T]):
    """A form field as ``required`` reads it (WTForms types ``data`` as optional)."""

    @property
    def name(self) -> str: ...

    @property
    def data(self) -> T | None: ...


def required(field: _Filled[T]) -> T:
    """``field.data`` of a field that ``DataRequired`` has validated, so never None; should it
    be None all the same, ``InvalidInput`` naming the field (a form message or a 400)."""
    value = field.data
    if value is None:
        raise InvalidInput("required", field=field.name)
    return value


def add_field_error(field: Field, message: str) -> None:
    """Show ``message`` under ``field`` (its errors are a tuple until it has been validated)."""
    if not isinstance(field.errors, list):
        field.errors = list(field.errors)
    field.errors.append(message)


def show_error(form: FlaskForm, err: DomainError, default: str) -> None:
    """Attach a refusal to the form field it names (else to ``default``)."""
    name = getattr(err, "field", None)
    field = getattr(form, name, None) if name else None
    if field is None or not hasattr(field, "errors"):
        field = getattr(form, default)
    add_field_error(field, err.message)


class TenantForm(FlaskForm):
    slug = StringField(
        "Slug",
        validators=[DataRequired(), Length(max=64)],
        description="Lower-case letters, digits and hyphens; used in URLs and CSV.",
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    time_zone = StringField(
        "Time zone",
        default="UTC",
        validators=[DataRequired(), Length(max=64)],
        description="IANA name, e.g. Europe/Berlin.",
    )
    first_party = BooleanField("First-party (a product of the provider itself)")

    def validate_time_zone(self, field):
        if not is_zone(field.data.strip()):
            raise ValidationError(f"unknown time zone {field.data!r}")


class ContactForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])


class UsageForm(FlaskForm):
    target = SelectField("Service or component", validators=[DataRequired()], validate_choice=False)


class ManagerForm(FlaskForm):
    user = SelectField("Account manager", coerce=int, validate_choice=False)


class NewUserForm(FlaskForm):
    """Fields every new account needs."""

    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    password = PasswordField(
        "Temporary password",
        description=PASSWORD_HINT,
        validators=[DataRequired(), Length(min=12, max=200)],
    )


class StaffUserForm(NewUserForm):
    is_admin = BooleanField("Admin")
    is_account_manager = BooleanField("Account manager")
    teams = SelectMultipleField(
        "Platform teams",
        coerce=int,
        validate_choice=False,
        description="Membership makes the user a platform engineer.",
    )
    approver = BooleanField("Approver in these teams (may approve emergency changes)")


class CustomerUserForm(NewUserForm):
    tenant = SelectField("Tenant", coerce=int, validate_choice=False)
    is_tenant_admin = BooleanField("Tenant admin (manages the tenant's users and contacts)")


class TenantUserForm(NewUserForm):
    """A tenant admin adding a user to their own organisation."""

    is_tenant_admin = BooleanField("Tenant admin (manages users and contacts)")


class StaffEditForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    is_admin = BooleanField("Admin")
    is_account_manager = BooleanField("Account manager")


class CustomerEditForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    is_tenant_admin = BooleanField("Tenant admin")


class PasswordForm(FlaskForm):
    password = PasswordField(
        "Temporary password",
        description=PASSWORD_HINT,
        validators=[DataRequired(), Length(min=12, max=200)],
    )
