"""The JSON API's common ground: Bearer-token authentication, JSON errors, helpers.

Every feature builds its API blueprint with ``api_blueprint`` so that all of ``/api/v1/``
authenticates the same way. Session cookies are ignored here on purpose: the API is for
pipelines and scripts, and accepting cookies would open it to cross-site requests.
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, request

from portal.api.declare import Blueprint as DeclaredBlueprint
from portal.auth.services import user_for_token
from portal.clock import now
from portal.errors import InvalidInput
from portal.extensions import csrf

PREFIX = "/api/v1"


def api_blueprint(name: str, import_name: str, *, public: bool = False) -> DeclaredBlueprint:
    """A blueprint under /api/v1 whose every request needs a valid Bearer token.

    It is a ``portal.api.declare.Blueprint``: declare each operation's schemas on it
    (docs/api.md); it documents itself in /api/v1/openapi.json when registered.
    """
    bp = DeclaredBlueprint(name, import_name, url_prefix=PREFIX, public=public)
    csrf.exempt(bp)
    if not public:
        bp.before_request(authenticate_request)
    return bp


def authenticate_request() -> None:
    """Resolve ``Authorization: Bearer <token>`` to a user or answer 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        abort(401, description="missing Bearer token (Authorization: Bearer <token>)")
    user = user_for_token(secret.strip(), now())
    if user is None:
        abort(401, description="invalid, expired or revoked API token")
    g._login_user = user  # Flask-Login's per-request user, without touching the session


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what is wrong with it."""
    if not request.is_json:
        raise InvalidInput("send a JSON object with Content-Type: application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the body is not a JSON object")
    return data
