"""Forms of the feeds feature: naming a feed token, registering an upstream feed."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError


class FeedTokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=100)],
        description="Who or what reads the feeds, e.g. 'Ops calendar' or 'Slack'.",
    )


class UpstreamFeedForm(FlaskForm):
    team_id = SelectField("Team", coerce=int, validate_choice=True)
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=200)],
        description="The supplier, e.g. 'Object storage vendor changelog'.",
    )
    url = StringField(
        "Feed URL",
        validators=[DataRequired(), Length(max=2000)],
        description="An RSS or Atom feed over http:// or https://.",
    )

    def validate_url(self, field):
        parts = urlsplit((field.data or "").strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("give a full http:// or https:// address")
