"""``/readyz`` (readiness) and ``/metrics`` (Prometheus). ``/healthz`` (liveness) is
``portal.web.routes.healthz``.

``/metrics`` is off (404) until ``METRICS_TOKEN`` is set, and then answers only requests that
carry ``Authorization: Bearer <METRICS_TOKEN>`` (RFC 6750): a malformed header is a 400, a
missing or wrong token a 401. It takes no query parameters (400 naming them).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify, request

from portal.clock import get_clock, utcnow
from portal.ops import health
from portal.ops.metrics import exposition

bp = Blueprint("ops", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when every check passes, else 503; JSON ``{"status", "checks": {name:
    {"ok", "detail"}}}``. ``?check=database&check=migrations`` runs only those (a load
    balancer in front of the web processes needs no worker); an unknown name is a 400."""
    wanted = tuple(request.args.getlist("check")) or health.CHECKS
    unknown = sorted(set(wanted) - set(health.CHECKS) | (set(request.args) - {"check"}))
    if unknown:
        return _error(
            400, f"unknown check(s) {', '.join(unknown)}; known: {', '.join(health.CHECKS)}"
        )
    checks = health.readiness(utcnow(), wanted)
    ready = all(c.ok for c in checks.values())
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()},
    }
    return jsonify(body), 200 if ready else 503


def _error(status: int, message: str) -> Response:
    """JSON like the API's errors (monitoring tools read these, not people)."""
    response = jsonify(error={"status": status, "message": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="forewarn-metrics"'
    return response


@bp.get("/metrics")
def metrics():
    """The Prometheus text exposition of ``portal.ops.metrics`` (see its docstring)."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return _error(404, "metrics are off: set PORTAL_METRICS_TOKEN (see docs/production.md)")
    header = request.headers.get("Authorization")
    if header is None:
        return _error(401, "send Authorization: Bearer <PORTAL_METRICS_TOKEN>")
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given or " " in given or not given.isprintable():
        return _error(400, "the Authorization header must be 'Bearer <token>'")
    if not hmac.compare_digest(given.encode(), str(token).encode()):
        return _error(401, "wrong metrics token")
    if request.args:
        return _error(
            400, f"/metrics takes no query parameters (got {', '.join(sorted(request.args))})"
        )
    return Response(exposition(get_clock().now()), content_type=CONTENT_TYPE)
