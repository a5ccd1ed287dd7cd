"""General API endpoints: who am I, and the OpenAPI description."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from portal.api.base import api_blueprint

bp = api_blueprint("api", __name__)


@bp.get("/me")
def me():
    """The authenticated user."""
    return jsonify(
        id=current_user.id,
        email=current_user.email,
        name=current_user.name,
        roles=current_user.roles,
        tenant=current_user.tenant.slug if current_user.tenant else None,
    )
