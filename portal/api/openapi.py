"""The OpenAPI 3.1 description served at /api/v1/openapi.json.

Each feature contributes its paths with ``register_paths``; the document is assembled on
request from what the features registered.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

_PATHS: dict[str, dict[str, Any]] = {}
_SCHEMAS: dict[str, dict[str, Any]] = {}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
            "required": ["status", "message"],
        }
    },
}


def register_paths(paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None):
    for path, ops in paths.items():
        _PATHS.setdefault(path, {}).update(ops)
    _SCHEMAS.update(schemas or {})


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Forewarn API",
            "version": "1",
            "description": "Change announcements with enforced notice windows.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA, **_SCHEMAS},
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(_PATHS.items())),
    }


register_paths(
    {
        "/me": {
            "get": {
                "summary": "The authenticated user",
                "responses": {
                    "200": {"description": "the user"},
                    "401": {
                        "description": "missing or bad token",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                },
            }
        }
    }
)


# Served without a token so that tools can discover the API.
spec_bp = Blueprint("api_spec", __name__, url_prefix="/api/v1")


@spec_bp.get("/openapi.json")
def openapi_json():
    return jsonify(openapi_document())
