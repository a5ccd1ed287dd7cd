"""OpenAPI paths of the changes API (registered with ``portal.api.openapi``)."""

from __future__ import annotations

from portal.api.openapi import register_paths


def _err(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERRORS = {
    "400": _err("bad input; error.field names the field"),
    "401": _err("missing or bad token"),
    "403": _err("not allowed"),
    "404": _err("no such change (or not yours to see)"),
    "409": _err(
        "refused by policy or state; names blocking tenants and the earliest allowed start"
    ),
}
CHANGE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChangeInput"}}},
}
ID = [{"name": "change_id", "in": "path", "required": True, "schema": {"type": "integer"}}]

SCHEMAS = {
    "ChangeInput": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 200},
            "body": {"type": "string", "description": "Markdown (sanitised when shown)"},
            "impact": {"type": "string", "examples": ["maintenance", "degradation", "breaking"]},
            "services": {
                "type": "array",
                "items": {"type": "string"},
                "description": "service slugs, or service/component",
            },
            "starts_at": {
                "type": "string",
                "description": "ISO-8601 with offset, or wall time "
                "with time_zone; naive times are refused",
            },
            "ends_at": {"type": "string"},
            "time_zone": {"type": "string", "description": "IANA zone for offset-less times"},
            "ack_required": {"type": "boolean"},
            "visibility": {"type": "string", "enum": ["public", "affected"]},
        },
    },
    "Gate": {
        "type": "object",
        "properties": {
            "open": {"type": "boolean"},
            "opens_at": {"type": ["string", "null"]},
            "tenants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "tenant": {"type": "string"},
                        "open": {"type": "boolean"},
                        "opens_at": {"type": ["string", "null"]},
                        "reason": {"type": "string"},
                        "required_notice_seconds": {"type": "integer"},
                        "notice_given_at": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
}


def _op(summary: str, *, body: dict | None = None, params=ID, ok: str = "200") -> dict:
    op = {
        "summary": summary,
        "parameters": list(params),
        "responses": {ok: {"description": "done"}, **ERRORS},
    }
    if body:
        op["requestBody"] = body
    return op


def _simple(fields: dict) -> dict:
    return {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "properties": fields}}},
    }


PATHS = {
    "/changes": {
        "get": _op(
            "Changes you may see",
            params=[
                {"name": "status", "in": "query", "schema": {"type": "string"}},
                {"name": "page", "in": "query", "schema": {"type": "integer"}},
            ],
        ),
        "post": _op("Create a draft change", body=CHANGE_BODY, params=[], ok="201"),
    },
    "/changes/preview": {
        "post": _op(
            "Earliest allowed start, affected tenants, strictest requirement, blackout conflicts",
            body=CHANGE_BODY,
            params=[],
        )
    },
    "/changes/{change_id}": {
        "get": _op("A change and its revisions"),
        "patch": _op("Edit a draft or revise a scheduled change", body=CHANGE_BODY),
    },
    "/changes/{change_id}/preview": {
        "post": _op("Preview an edit: notice figures and whether it is material", body=CHANGE_BODY)
    },
    "/changes/{change_id}/publish": {"post": _op("Publish (409 names blocking tenants)")},
    "/changes/{change_id}/start": {
        "post": _op(
            "Start (409 while a gate is shut, unless only_open)",
            body=_simple({"only_open": {"type": "boolean"}}),
        )
    },
    "/changes/{change_id}/complete": {"post": _op("Complete a change in progress")},
    "/changes/{change_id}/cancel": {
        "post": _op("Cancel a scheduled change", body=_simple({"reason": {"type": "string"}}))
    },
    "/changes/{change_id}/tenants/{tenant}/resend-notice": {
        "post": _op(
            "Queue the current revision's notice again for a tenant whose notice failed",
            params=ID
            + [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}],
            ok="202",
        )
    },
    "/changes/{change_id}/emergency": {
        "post": _op(
            "Request emergency (short-notice) approval",
            body=_simple({"justification": {"type": "string"}}),
            ok="202",
        )
    },
    "/changes/{change_id}/emergency/approve": {
        "post": _op(
            "Approve an emergency (another engineer with the approver right)",
            body=_simple({"note": {"type": "string"}}),
        )
    },
    "/changes/{change_id}/emergency/reject": {
        "post": _op(
            "Reject an emergency with a reason", body=_simple({"reason": {"type": "string"}})
        )
    },
    "/changes/{change_id}/gate": {
        "get": {
            "summary": "The go-live gate per tenant (poll from pipelines)",
            "parameters": ID + [{"name": "tenant", "in": "query", "schema": {"type": "string"}}],
            "responses": {
                "200": {
                    "description": "gate",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Gate"}}
                    },
                },
                **ERRORS,
            },
        }
    },
}


def register() -> None:
    """Add the changes paths to /api/v1/openapi.json."""
    register_paths(PATHS, SCHEMAS)
