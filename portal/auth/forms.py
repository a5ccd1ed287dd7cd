"""Forms for signing in, profile settings and API tokens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError

from portal.timezones import is_zone


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in")


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    time_zone = StringField(
        "Time zone",
        validators=[Optional(), Length(max=64)],
        description="IANA name, e.g. Europe/Berlin. Empty: your organisation's zone.",
    )

    def validate_time_zone(self, field):
        if field.data and not is_zone(field.data):
            raise ValidationError(f"unknown time zone {field.data!r}")


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=100)],
        description="What uses it, e.g. 'deploy pipeline'.",
    )
    days = IntegerField(
        "Valid for (days)", default=365, validators=[Optional(), NumberRange(min=1, max=3650)]
    )


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=12, max=200)],
        description="At least 12 characters, hard to guess, without your e-mail address.",
    )


class EmptyForm(FlaskForm):
    """A CSRF-only form for POST buttons (revoke, confirm…)."""


__all__ = [
    "LoginForm",
    "ProfileForm",
    "TokenForm",
    "PasswordChangeForm",
    "EmptyForm",
    "SelectField",
    "Email",
]
