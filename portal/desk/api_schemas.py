"""Request and response schemas of the desk API (``portal.desk.api``).

The bounds are the desk's own (``portal.desk.params``, shared with the desk pages); a query
loads into the same ``Listing`` the pages use.
"""

from __future__ import annotations

from marshmallow import fields, post_load, validate

from portal.api.fields import Page, Schema, Time
from portal.desk.params import DEFAULT_PER_PAGE, FILTERS, MAX_PER_PAGE, MAX_SEARCH, Listing


class ListingQuerySchema(Schema):
    q = fields.String(
        load_default="",
        validate=validate.Length(
            max=MAX_SEARCH, error=f"search text is limited to {MAX_SEARCH} characters"
        ),
        metadata={"description": "search in tenant slugs and names"},
    )
    page = Page()
    per_page = fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=validate.Range(
            1, MAX_PER_PAGE, error="per_page must be at least 1 and at most {max}"
        ),
    )

    @post_load
    def _listing(self, data: dict, **kwargs) -> Listing:
        return Listing(data.get("filter"), data["q"].strip(), data["page"], data["per_page"])


class MatrixQuerySchema(ListingQuerySchema):
    filter = fields.String(
        validate=validate.OneOf(
            list(FILTERS), error=f"unknown filter {{input!r}} (allowed: {', '.join(FILTERS)})"
        )
    )


class DeskPagingSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class TenantLineSchema(Schema):
    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    first_party = fields.Boolean(required=True)


class TenantPageSchema(DeskPagingSchema):
    tenants = fields.List(fields.Nested(TenantLineSchema), required=True)


class ChangeLineSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    impact = fields.String(required=True)
    starts_at = Time(required=True)
    my_tenants = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    acknowledged = fields.Integer(required=True)


class ChangeLinePageSchema(DeskPagingSchema):
    changes = fields.List(fields.Nested(ChangeLineSchema), required=True)


class NoticeStateSchema(Schema):
    state = fields.String(required=True)
    delivered_at = Time(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    smtp_reply = fields.String(allow_none=True, metadata={"description": "matrix only"})
    attempts = fields.Integer(metadata={"description": "matrix only"})


class AckLineSchema(Schema):
    at = Time(required=True)
    by = fields.String(required=True)
    channel = fields.String(required=True)


class MatrixObjectionSchema(Schema):
    at = Time(required=True)
    by = fields.String(required=True)
    reason = fields.String(required=True)
    open = fields.Boolean(required=True)
    answer = fields.String(required=True, allow_none=True)


class MatrixWaiverSchema(Schema):
    at = Time(required=True)
    agreed_by = fields.String(required=True)
    channel = fields.String(required=True)
    recorded_by = fields.String(required=True)


class BreachSchema(Schema):
    revision = fields.Integer(required=True)
    required_notice_seconds = fields.Integer(required=True)
    given_notice_seconds = fields.Integer(required=True, allow_none=True)
    justification = fields.String(required=True, allow_none=True)


class GateLineSchema(Schema):
    open = fields.Boolean(required=True)
    opens_at = Time(required=True, allow_none=True)
    reason = fields.String(required=True)


class MatrixRowSchema(Schema):
    tenant = fields.String(required=True)
    name = fields.String(required=True)
    first_party = fields.Boolean(required=True)
    required_notice_seconds = fields.Integer(required=True)
    clock_revision = fields.Integer(required=True)
    notice = fields.Nested(NoticeStateSchema, required=True)
    gate = fields.Nested(GateLineSchema, required=True)
    acknowledged = fields.Nested(AckLineSchema, required=True, allow_none=True)
    objection = fields.Nested(MatrixObjectionSchema, required=True, allow_none=True)
    waiver = fields.Nested(MatrixWaiverSchema, required=True, allow_none=True)
    breach = fields.List(fields.Nested(BreachSchema), required=True, allow_none=True)
    notice_contacts = fields.List(
        fields.String(), metadata={"description": "the tenant's notice contact addresses"}
    )


class MatrixChangeSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    starts_at = Time(required=True)


class MatrixSummarySchema(Schema):
    tenants = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    acknowledged = fields.Integer(required=True)
    objecting = fields.Integer(required=True)
    waived = fields.Integer(required=True)
    breached = fields.Integer(required=True)
    first_party = fields.Integer(required=True)
    not_delivered = fields.Integer(required=True)
    not_acknowledged = fields.Integer(required=True)


class MatrixSchema(DeskPagingSchema):
    change = fields.Nested(MatrixChangeSchema, required=True)
    filter = fields.String(required=True, allow_none=True)
    q = fields.String(required=True)
    summary = fields.Nested(MatrixSummarySchema, required=True)
    tenants = fields.List(fields.Nested(MatrixRowSchema), required=True)


class HistoryLineSchema(Schema):
    change_id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    impact = fields.String(required=True)
    starts_at = Time(required=True)
    still_affected = fields.Boolean(required=True)
    required_notice_seconds = fields.Integer(required=True)
    notice = fields.Nested(NoticeStateSchema, required=True)
    acknowledged = fields.Nested(AckLineSchema, required=True, allow_none=True)
    objections = fields.Integer(required=True)
    waived = fields.Boolean(required=True)
    breached = fields.Boolean(required=True)


class TenantHistorySchema(DeskPagingSchema):
    tenant = fields.Nested(TenantLineSchema, required=True)
    changes = fields.List(fields.Nested(HistoryLineSchema), required=True)
