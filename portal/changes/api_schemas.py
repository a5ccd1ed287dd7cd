"""Request and response schemas of the changes API (``portal.changes.api``).

The schemas check shapes and types (strings, JSON booleans, known zones and statuses) and
document the API; what a change may be (impact levels, services, times, notice) is checked by
``portal.changes.inputs`` and the services, shared with the web forms.
"""

from __future__ import annotations

from marshmallow import RAISE, fields, validate

from portal.api.fields import Page, Schema, StrictBoolean, Time, TimeZone
from portal.api.schemas import BlackoutSchema, BlockerSchema, PagingSchema
from portal.changes.inputs import VISIBILITIES
from portal.changes.models import STATUSES


def _text(field: str, invalid: str, **kwargs) -> fields.String:
    return fields.String(allow_none=True, error_messages={"invalid": invalid}, **kwargs)


def _when(field: str, **kwargs) -> fields.String:
    return _text(
        field,
        f"{field} must be an ISO-8601 date-time string",
        metadata={
            "description": "ISO-8601 with an offset (…Z, …+02:00), or a wall time with "
            "time_zone; naive times are refused"
        },
        **kwargs,
    )


class ChangeEditSchema(Schema):
    """A change's content; on an edit, what is left out (or null) keeps its value."""

    class Meta:
        unknown = RAISE

    title = _text("title", "a title is required", metadata={"maxLength": 200})
    body = _text(
        "body",
        "the body must be Markdown text under 100,000 characters",
        metadata={"description": "Markdown (sanitised when shown)", "maxLength": 100_000},
    )
    impact = _text(
        "impact",
        "impact must be an impact level's name",
        metadata={"examples": ["maintenance", "degradation", "breaking"]},
    )
    services = fields.List(
        fields.String(error_messages={"invalid": "each service must be a slug string"}),
        allow_none=True,
        error_messages={"invalid": "services must be a list of service slugs"},
        metadata={"description": "service slugs, or service/component"},
    )
    starts_at = _when("starts_at")
    ends_at = _when("ends_at")
    time_zone = TimeZone(
        allow_none=True,
        metadata={"description": "IANA zone (Area/Location, or UTC) of offset-less times"},
    )
    ack_required = StrictBoolean(
        allow_none=True, error_messages={"invalid": "ack_required must be true or false"}
    )
    visibility = fields.String(
        allow_none=True,
        validate=validate.OneOf(
            VISIBILITIES, error=f"visibility must be one of {', '.join(VISIBILITIES)}"
        ),
    )
    customer_action = _text(
        "customer_action",
        "customer_action must be Markdown text",
        metadata={
            "description": "What customers need to do (Markdown, sanitised when shown); "
            '"" clears it. Required when act_by is set.',
            "maxLength": 20_000,
        },
    )
    act_by = _text(
        "act_by",
        "act_by must be an ISO-8601 date-time string",
        metadata={
            "description": "When customers must have acted by: ISO-8601 with an offset, or a "
            'wall time with time_zone; not after starts_at; "" clears it'
        },
    )


class ChangeCreateSchema(ChangeEditSchema):
    """A new change: title, impact, services and both times are required."""

    class Meta:
        unknown = RAISE

    title = _text("title", "a title is required", required=True, metadata={"maxLength": 200})
    impact = _text("impact", "impact must be an impact level's name", required=True)
    services = fields.List(
        fields.String(error_messages={"invalid": "each service must be a slug string"}),
        required=True,
        allow_none=True,
        error_messages={"invalid": "services must be a list of service slugs"},
        metadata={"description": "service slugs, or service/component"},
    )
    starts_at = _when("starts_at", required=True)
    ends_at = _when("ends_at", required=True)


class ListQuerySchema(Schema):
    status = fields.String(
        validate=validate.OneOf(STATUSES, error="unknown status {input!r}"),
        metadata={"description": "only changes in this state"},
    )
    page = Page()


class GateQuerySchema(Schema):
    tenant = fields.String(
        validate=validate.Length(1, 100),
        metadata={"description": "only this tenant's gate (slug)"},
    )


class StartSchema(Schema):
    class Meta:
        unknown = RAISE

    only_open = StrictBoolean(
        load_default=False,
        error_messages={"invalid": "only_open must be true or false"},
        metadata={"description": "start only the tenants whose gate is open"},
    )


class CancelSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(
        load_default="",
        validate=validate.Length(max=2000, error="reason must be text under 2,000 characters"),
        error_messages={"invalid": "reason must be text under 2,000 characters"},
    )


class EmergencySchema(Schema):
    class Meta:
        unknown = RAISE

    justification = fields.String(
        required=True,
        validate=validate.Length(max=4000),
        error_messages={
            "required": "a justification is required",
            "invalid": "a justification is required",
        },
    )


class ApproveSchema(Schema):
    class Meta:
        unknown = RAISE

    note = fields.String(
        load_default="",
        validate=validate.Length(max=4000),
        error_messages={"invalid": "note must be text"},
    )


class ResendSchema(Schema):
    """What "resend notice" queued: messages to the tenant's notice contacts."""

    queued = fields.Integer(required=True, metadata={"description": "notice emails queued"})
    tenant = fields.String(required=True)


class RejectSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(
        required=True,
        validate=validate.Length(max=4000),
        error_messages={"required": "a reason is required", "invalid": "a reason is required"},
    )


class ChangeSchema(Schema):
    """A change as its viewer may see it (``portal.changes.serialise.change_dict``)."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True, metadata={"description": "Markdown"})
    impact = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    starts_at = Time(required=True)
    ends_at = Time(required=True)
    ack_required = fields.Boolean(required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES))
    customer_action = fields.String(
        required=True, metadata={"description": 'what customers need to do (Markdown; "": none)'}
    )
    act_by = Time(required=True, allow_none=True, metadata={"description": "deadline to act"})
    services = fields.List(fields.String(), required=True)
    revision = fields.Integer(required=True)
    material_revision = fields.Integer(required=True)
    published_at = Time(required=True, allow_none=True)
    short_notice = fields.Boolean(required=True)
    url = fields.String(required=True)
    team = fields.String(metadata={"description": "staff only"})
    author = fields.String(metadata={"description": "staff only"})


class RevisionSchema(Schema):
    number = fields.Integer(required=True)
    kind = fields.String(required=True)
    material = fields.Boolean(required=True)
    summary = fields.String(required=True)
    created_at = Time(required=True)
    snapshot = fields.Dict(required=True, metadata={"description": "the change as announced"})


class ChangeEnvelopeSchema(Schema):
    change = fields.Nested(ChangeSchema, required=True)


class ChangeListSchema(PagingSchema):
    changes = fields.List(fields.Nested(ChangeSchema), required=True)


class ChangeHistorySchema(ChangeEnvelopeSchema):
    revisions = fields.List(fields.Nested(RevisionSchema), required=True)


class ChangeUpdateSchema(ChangeEnvelopeSchema):
    revision = fields.Nested(
        RevisionSchema, required=True, allow_none=True, metadata={"description": "null: draft"}
    )


class StrictestSchema(Schema):
    tenant = fields.String(required=True)
    name = fields.String(required=True)
    required_notice_seconds = fields.Integer(required=True)
    basis = fields.List(fields.String(), required=True)


class PreviewSchema(Schema):
    affected_tenants = fields.Integer(required=True)
    strictest = fields.Nested(StrictestSchema, required=True, allow_none=True)
    policy_notice_seconds = fields.Integer(required=True)
    earliest_allowed_start = Time(required=True)
    publishable = fields.Boolean(required=True)
    blocking_tenants = fields.List(fields.Nested(BlockerSchema), required=True)
    blackout_conflicts = fields.List(fields.Nested(BlackoutSchema), required=True)
    material = fields.Boolean(metadata={"description": "edits only"})
    material_reasons = fields.List(fields.String(), metadata={"description": "edits only"})


class TenantGateSchema(Schema):
    tenant = fields.String(required=True)
    name = fields.String(required=True)
    open = fields.Boolean(required=True)
    opens_at = Time(required=True, allow_none=True)
    reason = fields.String(required=True)
    required_notice_seconds = fields.Integer(required=True)
    notice_given_at = Time(required=True, allow_none=True)
    started_at = Time(required=True, allow_none=True)


class StartResultSchema(ChangeEnvelopeSchema):
    started = fields.List(fields.String(), required=True)
    waiting = fields.List(fields.Nested(TenantGateSchema), required=True)


class GateSchema(Schema):
    change = fields.Integer(required=True)
    status = fields.String(required=True)
    now = Time(required=True)
    starts_at = Time(required=True)
    open = fields.Boolean(required=True)
    opens_at = Time(required=True, allow_none=True)
    open_tenants = fields.Integer()
    shut_tenants = fields.Integer()
    tenants = fields.List(fields.Nested(TenantGateSchema), required=True)


# Shown in the document, and tried first by schemathesis (the demo provider's service).
CHANGE_EXAMPLE = {
    "title": "Upgrade the fusion model",
    "body": "Output resolution changes.",
    "impact": "degradation",
    "services": ["face-fusion-api"],
    "starts_at": "2030-11-06T09:00:00Z",
    "ends_at": "2030-11-06T11:00:00Z",
}
EDIT_EXAMPLE = {"title": "Upgrade the fusion model (v2)", "ack_required": True}
