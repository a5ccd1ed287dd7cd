"""Certificate pages and JSON, and the equal-notice report.

- ``/certificates/<change>/<tenant>`` (printable HTML) and ``…/<tenant>.json``: visible to the
  tenant's own users, its account managers, the owning team and admins; anyone else gets 404.
- ``/certificates/<change>/equal-notice`` (and ``.json``): provider staff only (admins, the
  owning team, account managers of an affected tenant).
The same documents are served to API tokens under ``/api/v1/changes/<id>/…``.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, make_response, render_template, request
from flask_login import current_user, login_required

from portal.api.base import api_blueprint
from portal.certificates import equal_notice, services
from portal.certificates.api_schemas import (
    CertificateQuerySchema,
    CertificateSchema,
    EqualNoticeSchema,
)
from portal.clock import now
from portal.extensions import db
from portal.templating import local_and_utc

bp = Blueprint("certificates", __name__, url_prefix="/certificates")
api_bp = api_blueprint("certificates_api", __name__)


def _certificate(change_id: int, tenant_slug: str) -> dict:
    change, tenant, ct = services.subject_or_404(change_id, tenant_slug, current_user)
    cert = services.build(
        change,
        tenant,
        ct,
        now=now(),
        issued_to=f"{current_user.name} <{current_user.email}>",
        since=request.args.getlist("since"),
    )
    db.session.commit()  # a checkpoint issued for this certificate is kept, like every other
    return cert


def _equal_notice(change_id: int) -> tuple:
    change = equal_notice.change_or_404(change_id, current_user)
    reports = equal_notice.report(change)
    named = equal_notice.named_tenants(change, current_user)
    return change, reports, equal_notice.report_dict(change, reports, now(), named)


@bp.app_template_filter("iso_local_and_utc")
def iso_local_and_utc(value: str | None, seconds: bool = False):
    """An ISO-8601 time from a certificate document, shown like every other page's times
    (viewer's zone, UTC alongside); ``seconds`` where the order of deliveries matters."""
    when = dt.datetime.fromisoformat(value) if value else None
    return local_and_utc(when, seconds=seconds)


def _no_store(response):
    # Certificates name people and addresses: keep them out of shared caches.
    response = make_response(response)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<int:change_id>/<tenant_slug>")
@login_required
def show(change_id: int, tenant_slug: str):
    cert = _certificate(change_id, tenant_slug)
    return _no_store(render_template("certificates/certificate.html", cert=cert))


@bp.get("/<int:change_id>/<tenant_slug>.json")
@login_required
def show_json(change_id: int, tenant_slug: str):
    return _no_store(jsonify(_certificate(change_id, tenant_slug)))


@bp.get("/<int:change_id>/equal-notice", endpoint="equal_notice")
@login_required
def equal_notice_page(change_id: int):
    change, reports, data = _equal_notice(change_id)
    return render_template("certificates/equal_notice.html", change=change, report=data)


@bp.get("/<int:change_id>/equal-notice.json")
@login_required
def equal_notice_json(change_id: int):
    return jsonify(_equal_notice(change_id)[2])


@api_bp.get("/changes/<id:change_id>/certificates/<tenant>")
@api_bp.arguments(CertificateQuerySchema, location="query")
@api_bp.response(200, CertificateSchema)
@api_bp.refusals(
    e400="a since value that is not a checkpoint of this log",
    e404="no such change or tenant, or not yours to see",
)
def api_certificate(query: dict, change_id: int, tenant: str):
    """Notice certificate of one tenant for one change, with ledger evidence, inclusion
    proofs, a signed checkpoint and consistency proofs from each ``since`` checkpoint."""
    return _certificate(change_id, tenant), 200, {"Cache-Control": "private, no-store"}


@api_bp.get("/changes/<id:change_id>/equal-notice")
@api_bp.response(200, EqualNoticeSchema)
@api_bp.refusals(e404="no such change, or not staff of it")
def api_equal_notice(change_id: int):
    """Equal-notice report: spread and first-party against third-party times."""
    return _equal_notice(change_id)[2]
