"""Web routes of the tenants feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tenants", __name__)
