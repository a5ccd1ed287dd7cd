"""Domain errors and the one place that turns errors into pages or JSON.

Services raise ``DomainError`` subclasses carrying what the user needs to know; views may catch
them to show a form message, and anything uncaught becomes an HTML page or, under ``/api/``, a
JSON body ``{"error": {"status", "message", ...details}}`` with the matching status code.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A refusal by the rules of the portal; ``status`` is the HTTP status it maps to."""

    status = 409

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, **self.details}


class InvalidInput(DomainError):
    """Bad input: names the field and the reason (HTTP 400)."""

    status = 400

    def __init__(self, message: str, field: str | None = None, **details: Any):
        super().__init__(message, **({"field": field} if field else {}), **details)
        self.field = field


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """Refused by policy or state (HTTP 409)."""

    status = 409


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

    from sqlalchemy.exc import IntegrityError

    from portal.races import conflict_for

    @app.errorhandler(IntegrityError)
    def integrity_error(err: IntegrityError):
        conflict = conflict_for(err)
        if conflict is None:
            return unexpected(err)
        from portal.extensions import db

        db.session.rollback()
        return domain_error(conflict)

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        from portal.extensions import db

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
