"""General API endpoints: who am I. (The OpenAPI description is ``portal.api.openapi``.)"""

from __future__ import annotations

from flask_login import current_user

from portal.api.base import api_blueprint
from portal.api.schemas import MeSchema

bp = api_blueprint("api", __name__)


@bp.get("/me")
@bp.response(200, MeSchema)
@bp.refusals()
def me():
    """The authenticated user."""
    return {
        "id": current_user.id,
        "email": current_user.email,
        "name": current_user.name,
        "roles": current_user.roles,
        "tenant": current_user.tenant.slug if current_user.tenant else None,
    }
