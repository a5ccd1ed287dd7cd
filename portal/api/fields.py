"""The API's field and schema primitives: the base ``Schema`` (nothing dropped silently),
instants, pages, strict booleans and integers, time zones, and the id bound.

Every feature's ``api_schemas`` and the shared ``portal.api.schemas`` build on these;
``portal.api.declare`` (blueprints, refusals, the OpenAPI document) builds on those in turn,
so the declaration imports the error body's schema without a cycle (issue #19 item 3).
"""

from __future__ import annotations

from collections.abc import Mapping

import marshmallow as ma
from flask import current_app
from marshmallow import fields, post_dump, validate

from portal.inputs import MAX_ID
from portal.timezones import is_zone


class Schema(ma.Schema):
    """Base schema: dumping a mapping with a key the schema does not declare is a bug.

    Tests (and debug runs) fail on it, production logs it; so the documented response and the
    one served cannot silently drift apart.
    """

    @post_dump(pass_original=True)
    def _nothing_dropped(self, data, original, **kwargs):
        if isinstance(original, Mapping):
            dropped = sorted(set(original) - set(data))
            if dropped:
                message = f"{type(self).__name__} does not declare {dropped}"
                if current_app.testing or current_app.debug:
                    raise TypeError(message)
                current_app.logger.warning(message)
        return data


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only: ``"yes"``, ``1`` or ``"true"`` are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class TimeZone(fields.String):
    """An IANA zone the portal accepts (``portal.timezones.is_zone``)."""

    default_error_messages = {
        "invalid": "time_zone must be an IANA zone name",
        "zone": "unknown time zone {input!r}: use an IANA Area/Location name or UTC",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_zone(text):
            raise self.make_error("zone", input=text[:60])
        return text


def Time(**kwargs) -> fields.String:  # noqa: N802  (a field factory named like a field)
    """An ISO-8601 instant with offset, as the API writes them (UTC)."""
    metadata = {"format": "date-time", **kwargs.pop("metadata", {})}
    return fields.String(metadata=metadata, **kwargs)


def Page() -> fields.Integer:  # noqa: N802
    return fields.Integer(
        load_default=1,
        validate=validate.Range(1, MAX_ID, error="page must be between 1 and {max}"),
        metadata={"description": "page number, from 1"},
    )


class StrictInteger(fields.Integer):
    """A JSON integer: ``true``, ``1.5`` and ``"1"`` are refused (``bool`` is an ``int`` in
    Python, so marshmallow's ``strict`` alone lets ``true`` through as 1)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)
