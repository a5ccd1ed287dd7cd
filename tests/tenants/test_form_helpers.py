"""The form helpers views share: ``required`` and ``add_field_error``."""

from __future__ import annotations

import pytest
from wtforms import Form, IntegerField, StringField

from portal.errors import InvalidInput
from portal.tenants.forms import add_field_error, required


class _Form(Form):
    slug = StringField("Slug")
    hours = IntegerField("Hours")


def test_required_hands_back_the_value_and_names_a_field_left_empty():
    form = _Form(data={"slug": "tapai", "hours": 72})
    assert required(form.slug) == "tapai" and required(form.hours) == 72
    with pytest.raises(InvalidInput) as refused:
        required(_Form().slug)
    assert refused.value.status == 400 and refused.value.field == "slug"


def test_add_field_error_shows_a_message_on_a_field_not_yet_validated():
    form = _Form()
    add_field_error(form.slug, "choose a slug from the list")
    assert form.errors == {"slug": ["choose a slug from the list"]}
