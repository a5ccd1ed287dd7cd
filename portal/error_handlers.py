"""The one place that turns errors into pages or JSON (registered by ``create_app``).

A ``DomainError`` (``portal.errors``) or an HTTP error becomes an HTML page or, under
``/api/``, a JSON body ``{"error": {"status", "message", ...details}}`` with the matching status
code; a known constraint race (``portal.races``) a 409; anything else a logged 500.
"""

from __future__ import annotations

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from portal.errors import DomainError
from portal.extensions import db
from portal.races import conflict_for


def _protocol_headers(err: HTTPException) -> list[tuple[str, str]]:
    """The headers an HTTP exception carries besides its own body's (e.g. Allow)."""
    try:
        headers = err.get_headers()
    except Exception:  # an exception built around a ready response
        headers = list(err.response.headers.items()) if err.response is not None else []
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in ("content-type", "content-length")
    ]


def wants_json() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        if wants_json():
            return jsonify(error=err.to_dict()), err.status
        return render_template(
            "errors/error.html", status=err.status, message=err.message, details=err.details
        ), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        if wants_json():
            body = {"status": err.code, "message": err.description or err.name}
            response = jsonify(error=body)
            response.status_code = err.code or 500
        else:
            response = make_response(
                render_template(
                    "errors/error.html",
                    status=err.code,
                    message=err.description,
                    title=err.name,
                    details={},
                ),
                err.code,
            )
        # Keep what the exception says beyond its body: Allow on 405 (RFC 9110 §15.5.6),
        # Retry-After on 429/503 (RFC 6585 §4).
        for name, value in _protocol_headers(err):
            response.headers[name] = value
        if err.code == 401 and wants_json():
            response.headers["WWW-Authenticate"] = 'Bearer realm="forewarn"'
        return response

    @app.errorhandler(IntegrityError)
    def integrity_error(err: IntegrityError):
        conflict = conflict_for(err)
        if conflict is None:
            return unexpected(err)
        db.session.rollback()
        return domain_error(conflict)

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if wants_json():
            return jsonify(error={"status": 500, "message": "internal error"}), 500
        return render_template(
            "errors/error.html",
            status=500,
            title="Internal error",
            message="Something went wrong on our side.",
            details={},
        ), 500
