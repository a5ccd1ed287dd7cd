"""Web routes of the changes feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("changes", __name__)
