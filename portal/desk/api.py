"""JSON API of the desk (token auth, under /api/v1/desk), for account managers and admins.

- ``GET /desk/tenants`` — my tenants (``q``, ``page``, ``per_page``);
- ``GET /desk/changes`` — published changes affecting my tenants, with progress counts;
- ``GET /desk/changes/<id>/matrix`` — the matrix (``filter``, ``q``, ``page``, ``per_page``)
  with the summary counts;
- ``GET /desk/tenants/<slug>/history`` — every change that affected one of my tenants.
Other roles get 403; a change or tenant outside my tenants 404; a bad parameter 400.
"""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from portal.access import get_tenant_or_404, has_role
from portal.api.base import api_blueprint
from portal.api.openapi import register_paths
from portal.clock import now
from portal.desk import matrix, overview
from portal.desk.params import FILTERS, parse_listing
from portal.errors import Forbidden

bp = api_blueprint("desk_api", __name__)


@bp.before_request
def _desk_roles() -> None:
    if not has_role(current_user, "admin", "account_manager"):
        raise Forbidden("the desk is for account managers and admins")


def _paging(page) -> dict:
    return {"page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}


@bp.get("/desk/tenants")
def tenants():
    page = overview.my_tenants(current_user, parse_listing(request.args, filters=False))
    return jsonify(tenants=[overview.tenant_dict(r) for r in page.items], **_paging(page))


@bp.get("/desk/changes")
def changes():
    page = overview.my_changes(current_user, parse_listing(request.args, filters=False))
    return jsonify(changes=[overview.change_line_dict(c) for c in page.items], **_paging(page))


@bp.get("/desk/changes/<int:change_id>/matrix")
def change_matrix(change_id: int):
    change = overview.visible_change_or_404(change_id, current_user)
    listing = parse_listing(request.args)
    page = matrix.matrix_page(change, current_user, listing, now())
    return jsonify(
        change={
            "id": change.id,
            "title": change.title,
            "status": change.status,
            "starts_at": change.starts_at.isoformat(),
        },
        filter=listing.filter,
        q=listing.q,
        summary=matrix.summary(change, current_user),
        tenants=[r.as_dict() for r in page.rows],
        **_paging(page),
    )


@bp.get("/desk/tenants/<slug>/history")
def tenant_history(slug: str):
    tenant = get_tenant_or_404(slug, current_user)
    page = overview.tenant_history(tenant, parse_listing(request.args, filters=False))
    return jsonify(
        tenant=overview.tenant_dict(tenant),
        changes=[overview.history_dict(line) for line in page.items],
        **_paging(page),
    )


def _err(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERRORS = {
    "400": _err("bad parameter; error.field names it"),
    "401": _err("missing or bad token"),
    "403": _err("not an account manager or admin"),
    "404": _err("not one of your tenants / changes"),
}
_PAGING = [
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
    },
]


def _op(summary: str, params: list) -> dict:
    return {
        "summary": summary,
        "tags": ["desk"],
        "parameters": params,
        "responses": {"200": {"description": "one page"}, **_ERRORS},
    }


register_paths(
    {
        "/desk/tenants": {"get": _op("My tenants (all for admins)", _PAGING)},
        "/desk/changes": {"get": _op("Published changes affecting my tenants", _PAGING)},
        "/desk/changes/{change_id}/matrix": {
            "get": _op(
                "Tenant × notice/gate/acknowledgement/objection/waiver/breach for one change",
                [
                    {
                        "name": "change_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "filter",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(FILTERS)},
                    },
                    *_PAGING,
                ],
            )
        },
        "/desk/tenants/{slug}/history": {
            "get": _op(
                "Every change that affected one of my tenants",
                [
                    {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
                    *_PAGING,
                ],
            )
        },
    }
)
