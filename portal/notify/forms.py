"""Forms of the notify feature: a customer user's email preferences."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

NO_OPTIONAL = ""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PreferencesForm(FlaskForm):
    """Which optional notices to receive: by minimum impact, and all or some services."""

    min_impact = SelectField(
        "Email me about changes of at least this impact", choices=[], validators=[Optional()]
    )
    all_services = BooleanField("All services my organisation uses", default=True)
    services = MultiCheckboxField(
        "Only these services", coerce=int, choices=[], validators=[Optional()]
    )


class ConfirmForm(FlaskForm):
    """An empty form: a CSRF-protected confirm button."""
