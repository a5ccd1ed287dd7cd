"""Web forms of the changes feature: the change editor, lifecycle buttons, and admin forms.

The forms only give a first, field-by-field answer; ``parse_change_input`` and the services
re-check everything and their refusals land on the field they name (``show_error``).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from portal.errors import DomainError
from portal.timezones import format_when_and_utc, parse_aware, zone_names

# Date inputs take 24-hour ISO-style text ("2026-12-03 05:00", a "T" also accepted), never
# the browser's datetime-local picker, which shows 12-hour AM/PM in many locales (issue 15
# item 3); what was understood is echoed back with its UTC offset and in UTC.
DATETIME_FORMATS = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
TIME_INPUT = {
    "type": "text",
    "placeholder": "2026-12-03 05:00",
    "pattern": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?",
    "autocomplete": "off",
    "spellcheck": "false",
}
TIME_HINT = "24-hour, e.g. 2026-12-03 05:00, in the time zone chosen here."


@dataclass(frozen=True)
class Understood:
    """One time field as the portal read it: its label and either the time in the input's
    zone and in UTC (``text``) or why it could not be read (``error``)."""

    label: str
    text: str = ""
    error: str = ""


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
        "Start", validators=[DataRequired()], render_kw=TIME_INPUT, description=TIME_HINT
    )
    ends_at = StringField("End", validators=[DataRequired()], render_kw=TIME_INPUT)
    time_zone = SelectField("Time zone of these times", validate_choice=False)
    customer_action = TextAreaField(
        "What customers need to do (Markdown)",
        validators=[Optional(), Length(max=20_000)],
        description="Shown first to customers, in every notice and feed. Leave empty when "
        "nothing is asked of them; raw HTML is not allowed.",
    )
    act_by = StringField(
        "Act by (optional)",
        validators=[Optional()],
        render_kw=TIME_INPUT,
        description="The time customers must have acted by, in the zone above; not after "
        "the start, and only with something to do.",
    )
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
            "customer_action": self.customer_action.data or "",
            "act_by": (self.act_by.data or "").strip(),
        }

    def understood(self) -> list[Understood]:
        """Each filled-in time as the portal reads it in the chosen zone ("Thu 3 Dec 2026
        05:00 UTC+8 (Wed 2 Dec 21:00 UTC)"), or why it cannot: echoed next to the notice
        check so a misread time is seen before saving."""
        zone = self.time_zone.data or "UTC"
        found = []
        for f in (self.starts_at, self.ends_at, self.act_by):
            value = (f.data or "").strip()
            if not value:
                continue
            label = f.label.text.split(" (")[0]
            try:
                when = parse_aware(value, f.name, zone)
            except DomainError as err:
                found.append(Understood(label, error=err.message))
            else:
                found.append(Understood(label, text=format_when_and_utc(when, zone)))
        return found


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
    starts_at = DateTimeLocalField(
        "From",
        format=DATETIME_FORMATS,
        validators=[DataRequired()],
        render_kw=TIME_INPUT,
        description=TIME_HINT,
    )
    ends_at = DateTimeLocalField(
        "Until", format=DATETIME_FORMATS, validators=[DataRequired()], render_kw=TIME_INPUT
    )
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
