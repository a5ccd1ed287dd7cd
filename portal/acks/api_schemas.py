"""Request and response schemas of the acks API (``portal.acks.api``).

Shapes and types only; who may answer, for which revision and in which state is decided by
``portal.acks.services`` (shared with the web pages and the email links).
"""

from __future__ import annotations

from marshmallow import RAISE, fields, validate

from portal.api.fields import MAX_ID, Schema, StrictInteger, Time


class AcknowledgeSchema(Schema):
    class Meta:
        unknown = RAISE

    revision = StrictInteger(
        allow_none=True,
        validate=validate.Range(1, MAX_ID, error="revision must be a revision number"),
        metadata={"description": "the revision you read; 409 if a material revision superseded it"},
    )


class ObjectionInputSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(
        required=True,
        allow_none=True,
        error_messages={"invalid": "reason must be a string", "required": "reason is required"},
        metadata={"maxLength": 4000},
    )


class WaiverInputSchema(Schema):
    class Meta:
        unknown = RAISE

    note = fields.String(
        allow_none=True,
        error_messages={"invalid": "note must be a string"},
        metadata={"maxLength": 4000},
    )
    tenant = fields.String(
        allow_none=True,
        error_messages={"invalid": "tenant must be a string"},
        metadata={"description": "tenant slug (account managers only, required for them)"},
    )
    agreed_by = fields.String(
        allow_none=True,
        error_messages={"invalid": "agreed_by must be a string"},
        metadata={
            "maxLength": 300,
            "description": "who at the tenant agreed (account managers only, required for them)",
        },
    )


class AcknowledgementSchema(Schema):
    id = fields.Integer(required=True)
    change_id = fields.Integer(required=True)
    tenant = fields.String(required=True)
    revision = fields.Integer(required=True)
    counts = fields.Boolean(required=True)
    channel = fields.String(required=True)
    by = fields.String(required=True)
    at = Time(required=True)
    ledger_seq = fields.Integer(required=True, allow_none=True)


class AcknowledgeResultSchema(Schema):
    result = fields.String(required=True, validate=validate.OneOf(["counted", "seen", "replay"]))
    acknowledgement = fields.Nested(AcknowledgementSchema, required=True)


class ObjectionSchema(Schema):
    id = fields.Integer(required=True)
    change_id = fields.Integer(required=True)
    tenant = fields.String(required=True)
    revision = fields.Integer(required=True)
    by = fields.String(required=True)
    reason = fields.String(required=True)
    at = Time(required=True)
    answer = fields.String(required=True, allow_none=True)
    answered_by = fields.String(required=True, allow_none=True)
    answered_at = Time(required=True, allow_none=True)
    ledger_seq = fields.Integer(required=True, allow_none=True)


class ObjectionResultSchema(Schema):
    objection = fields.Nested(ObjectionSchema, required=True)


class WaiverSchema(Schema):
    id = fields.Integer(required=True)
    change_id = fields.Integer(required=True)
    tenant = fields.String(required=True)
    revision = fields.Integer(required=True)
    channel = fields.String(required=True)
    agreed_by = fields.String(required=True)
    recorded_by = fields.String(required=True)
    note = fields.String(required=True)
    at = Time(required=True)
    ledger_seq = fields.Integer(required=True, allow_none=True)


class WaiverResultSchema(Schema):
    waiver = fields.Nested(WaiverSchema, required=True)
