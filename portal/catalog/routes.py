"""Web routes of the catalog feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("catalog", __name__)
