"""Forms for platform teams, memberships, services and components."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

SLUG_HINT = "Lower-case letters, digits and hyphens."


class TeamForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=64)], description=SLUG_HINT)
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])


class MemberForm(FlaskForm):
    user = SelectField("Engineer", coerce=int, validate_choice=False)
    is_approver = BooleanField("Approver (may approve other engineers' emergency changes)")


class ServiceForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=64)], description=SLUG_HINT)
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    team = SelectField("Owning team", coerce=int, validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])


class ComponentForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(max=64)], description=SLUG_HINT)
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
