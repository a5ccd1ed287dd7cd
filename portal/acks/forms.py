"""Forms of the acks feature (Flask-WTF: every one carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.acks.services import REASON_MAX


class ConfirmAckForm(FlaskForm):
    """The confirm button behind an email link or on the change page."""


class ObjectionForm(FlaskForm):
    reason = TextAreaField(
        "Why should it be postponed?",
        validators=[DataRequired(), Length(max=REASON_MAX)],
        description="The owning team and your account manager see this; the team answers here.",
    )


class AnswerForm(FlaskForm):
    answer = TextAreaField("Answer", validators=[DataRequired(), Length(max=REASON_MAX)])


class WaiverForm(FlaskForm):
    """A tenant admin's waiver; staff also pick the tenant and name who agreed."""

    tenant = SelectField("Tenant", choices=[], validators=[Optional()])
    agreed_by = StringField(
        "Who agreed",
        validators=[Optional(), Length(max=300)],
        description="The person at the tenant who agreed, and how "
        "(e.g. 'Ann Admin, phone call 3 Nov').",
    )
    note = TextAreaField("Note", validators=[Optional(), Length(max=REASON_MAX)])
