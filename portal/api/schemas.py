"""Schemas every API feature shares: the error body, paging, the caller, ids and slugs."""

from __future__ import annotations

from marshmallow import fields, validate

from portal.api.fields import MAX_ID, Page, Schema, Time


class BlockerSchema(Schema):
    """A tenant the start gives too little notice (DESIGN.md "Notice windows")."""

    tenant = fields.String(required=True)
    name = fields.String(required=True)
    required_notice_seconds = fields.Integer(required=True)
    earliest_start = Time(required=True)
    source = fields.String(
        metadata={"description": 'the rule owing it: "policy", "service policy", "contract (ref)"'}
    )


class BlackoutSchema(Schema):
    id = fields.Integer(allow_none=True)
    tenant = fields.String(allow_none=True, metadata={"description": "null: provider-wide"})
    starts_at = Time(required=True)
    ends_at = Time(required=True)
    reason = fields.String()


class ErrorDetailSchema(Schema):
    """What a refusal says; other details a refusal names may be present too.

    Documentation only: ``portal.errors`` writes refusals (``DomainError.to_dict``).
    """

    class Meta:
        unknown = "include"

    status = fields.Integer(required=True)
    message = fields.String(required=True)
    field = fields.String(metadata={"description": "the input field at fault (400)"})
    blocking_tenants = fields.List(
        fields.Raw(),
        metadata={"description": "409 on publish: tenants owed more notice (or their slugs)"},
    )
    earliest_allowed_start = Time(metadata={"description": "409 on publish"})
    blackout_conflicts = fields.List(fields.Nested(BlackoutSchema))
    status_now = fields.String()
    current_revision = fields.Integer()


class ErrorSchema(Schema):
    """``{"error": {"status", "message", ...}}``, the body of every refusal."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class PagingSchema(Schema):
    page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    total = fields.Integer(required=True)


class PageQuerySchema(Schema):
    page = Page()


class MeSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    tenant = fields.String(allow_none=True, required=True)


ID_RANGE = validate.Range(1, MAX_ID)
