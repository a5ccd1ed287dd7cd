"""Domain errors: what services raise, carrying what the user needs to know.

Views may catch them to show a form message; anything uncaught becomes an HTML page or, under
``/api/``, a JSON body ``{"error": {"status", "message", ...details}}`` with the matching status
code (``portal.error_handlers``, the one place that turns errors into pages or JSON).
"""

from __future__ import annotations

from typing import Any


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
