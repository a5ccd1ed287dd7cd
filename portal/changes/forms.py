"""Web forms of the changes feature: the change editor, lifecycle buttons, and admin forms.

The forms only give a first, field-by-field answer; ``parse_change_input`` and the services
re-check everything and their refusals land on the field they name (``show_error``).
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

# types-WTForms (3.2) predates SelectChoice (WTForms 3.3): drop the ignore when it catches up.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from portal.changes.inputs import VISIBILITIES
from portal.timezones import zone_names

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def zone_choices() -> list[tuple[str, str]]:
    return [("UTC", "UTC")] + [(z, z) for z in zone_names() if z != "UTC"]


class ChangeForm(FlaskForm):
    """Create or edit a change; times are wall-clock times in ``time_zone``."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(
        "Description (Markdown)",
        validators=[Optional(), Length(max=100_000)],
        description="Rendered and sanitised; raw HTML is not allowed.",
    )
    services = SelectMultipleField(
        "Services and components",
        validate_choice=False,
        description="Everything the change touches (Ctrl/⌘-click to "
        "choose several); the tenants using any of "
        "them are affected.",
    )
    impact = SelectField("Impact", validate_choice=False)
    # Kept as text: the wall time is combined with the zone by ``parse_change_input``, which
    # refuses times a daylight-saving change skips or doubles.
    starts_at = StringField(
        "Start", validators=[DataRequired()], render_kw={"type": "datetime-local", "step": "1"}
    )
    ends_at = StringField(
        "End", validators=[DataRequired()], render_kw={"type": "datetime-local", "step": "1"}
    )
    time_zone = SelectField("Time zone of these times", validate_choice=False)
    ack_required = BooleanField("Ask affected customers to acknowledge")
    visibility = SelectField(
        "Visibility",
        choices=[
            SelectChoice(VISIBILITIES[1], "Affected customers only"),
            SelectChoice(VISIBILITIES[0], "Public"),
        ],
        validate_choice=True,
    )

    def raw(self) -> dict:
        """The input as ``parse_change_input`` takes it."""
        return {
            "title": self.title.data or "",
            "body": self.body.data or "",
            "services": list(self.services.data or []),
            "impact": self.impact.data,
            "starts_at": (self.starts_at.data or "").strip(),
            "ends_at": (self.ends_at.data or "").strip(),
            "time_zone": self.time_zone.data,
            "ack_required": bool(self.ack_required.data),
            "visibility": self.visibility.data,
        }


class ReasonForm(FlaskForm):
    """Cancel, or reject an emergency: a reason is required."""

    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


class RejectForm(FlaskForm):
    """Reject an emergency request: the reason goes back to the requester with the draft."""

    reason = TextAreaField(
        "Reason for rejecting",
        validators=[DataRequired(), Length(max=2000)],
        description="The requester sees it; the change goes back to draft.",
    )


class JustificationForm(FlaskForm):
    justification = TextAreaField(
        "Justification",
        validators=[
            DataRequired(),
            Length(
                min=20,
                max=5000,
                message="write a justification of at least 20 characters (at most 5000)",
            ),
        ],
        description="Why this cannot wait for the notice window; read by the approver, the "
        "affected customers' account managers and their notice certificates.",
    )


class ApproveForm(FlaskForm):
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)])


class StartForm(FlaskForm):
    only_open = BooleanField("Start only the tenants whose gate is open")


# Admin: notice policies, contract terms, blackout windows.
class ImpactLevelForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[
            DataRequired(),
            Length(max=32),
            Regexp(r"^[a-z][a-z0-9_-]*$", message="lower-case letters, digits, - and _"),
        ],
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    rank = IntegerField(
        "Severity rank",
        validators=[DataRequired(), NumberRange(min=1, max=10_000)],
        description="Higher is more severe; raising the rank of a change's "
        "impact makes a revision material.",
    )
    notice_hours = IntegerField(
        "Notice (hours)", validators=[DataRequired(), NumberRange(min=1, max=24 * 3650)]
    )


class NoticeHoursForm(FlaskForm):
    notice_hours = IntegerField(
        "Notice (hours)", validators=[DataRequired(), NumberRange(min=1, max=24 * 3650)]
    )


class ServicePolicyForm(FlaskForm):
    service = SelectField("Service", coerce=int, validate_choice=False)
    impact = SelectField("Impact", validate_choice=False)
    notice_hours = IntegerField(
        "Notice (hours)", validators=[DataRequired(), NumberRange(min=1, max=24 * 3650)]
    )


class ContractTermForm(FlaskForm):
    service = SelectField(
        "Applies to", coerce=int, validate_choice=False, description="All services, or one service."
    )
    notice_hours = IntegerField(
        "Notice (hours)", validators=[DataRequired(), NumberRange(min=1, max=24 * 3650)]
    )
    reference = StringField("Contract reference", validators=[Optional(), Length(max=200)])


class BlackoutForm(FlaskForm):
    starts_at = DateTimeLocalField("From", format=DATETIME_FORMATS, validators=[DataRequired()])
    ends_at = DateTimeLocalField("Until", format=DATETIME_FORMATS, validators=[DataRequired()])
    time_zone = SelectField("Time zone", validate_choice=False)
    reason = StringField("Reason", validators=[Optional(), Length(max=300)])


__all__ = [
    "ChangeForm",
    "ReasonForm",
    "RejectForm",
    "JustificationForm",
    "ApproveForm",
    "StartForm",
    "ImpactLevelForm",
    "NoticeHoursForm",
    "ServicePolicyForm",
    "ContractTermForm",
    "BlackoutForm",
    "zone_choices",
    "SelectMultipleField",
]
