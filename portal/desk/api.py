"""JSON API of the desk (token auth, under /api/v1/desk), for account managers and admins.

- ``GET /desk/tenants`` — my tenants (``q``, ``page``, ``per_page``);
- ``GET /desk/changes`` — published changes affecting my tenants, with progress counts;
- ``GET /desk/changes/<id>/matrix`` — the matrix (``filter``, ``q``, ``page``, ``per_page``)
  with the summary counts;
- ``GET /desk/tenants/<slug>/history`` — every change that affected one of my tenants.
Other roles get 403; a change or tenant outside my tenants 404; a bad parameter 400.
Each operation declares its schemas (``portal.desk.api_schemas``; docs/api.md).
"""

from __future__ import annotations

from flask_login import current_user

from portal.access import get_tenant_or_404, has_role
from portal.api.base import api_blueprint
from portal.clock import now
from portal.desk import api_schemas as s
from portal.desk import matrix, overview
from portal.errors import Forbidden

bp = api_blueprint("desk_api", __name__)


@bp.before_request
def _desk_roles() -> None:
    if not has_role(current_user, "admin", "account_manager"):
        raise Forbidden("the desk is for account managers and admins")


def _paging(page) -> dict:
    return {"page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}


E403 = "not an account manager or admin"
E404 = "not one of your tenants / changes"


@bp.get("/desk/tenants")
@bp.arguments(s.ListingQuerySchema, location="query")
@bp.response(200, s.TenantPageSchema)
@bp.refusals(e400="bad parameter; error.field names it", e403=E403)
def tenants(listing):
    """My tenants (all for admins)."""
    page = overview.my_tenants(current_user, listing)
    return {"tenants": [overview.tenant_dict(r) for r in page.items], **_paging(page)}


@bp.get("/desk/changes")
@bp.arguments(s.ListingQuerySchema, location="query")
@bp.response(200, s.ChangeLinePageSchema)
@bp.refusals(e400="bad parameter; error.field names it", e403=E403)
def changes(listing):
    """Published changes affecting my tenants, with progress counts."""
    page = overview.my_changes(current_user, listing)
    return {"changes": [overview.change_line_dict(c) for c in page.items], **_paging(page)}


@bp.get("/desk/changes/<id:change_id>/matrix")
@bp.arguments(s.MatrixQuerySchema, location="query")
@bp.response(200, s.MatrixSchema)
@bp.refusals(e400="bad parameter; error.field names it", e403=E403, e404=E404)
def change_matrix(listing, change_id: int):
    """Tenant × notice/gate/acknowledgement/objection/waiver/breach for one change."""
    change = overview.visible_change_or_404(change_id, current_user)
    page = matrix.matrix_page(change, current_user, listing, now())
    return {
        "change": {
            "id": change.id,
            "title": change.title,
            "status": change.status,
            "starts_at": change.starts_at.isoformat(),
        },
        "filter": listing.filter,
        "q": listing.q,
        "summary": matrix.summary(change, current_user),
        "tenants": [r.as_dict() for r in page.items],
        **_paging(page),
    }


@bp.get("/desk/tenants/<slug>/history")
@bp.arguments(s.ListingQuerySchema, location="query")
@bp.response(200, s.TenantHistorySchema)
@bp.refusals(e400="bad parameter; error.field names it", e403=E403, e404=E404)
def tenant_history(listing, slug: str):
    """Every change that affected one of my tenants."""
    tenant = get_tenant_or_404(slug, current_user)
    page = overview.tenant_history(tenant, listing)
    return {
        "tenant": overview.tenant_dict(tenant),
        "changes": [overview.history_dict(line) for line in page.items],
        **_paging(page),
    }
