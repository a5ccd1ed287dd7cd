"""Web routes of the acks feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("acks", __name__)
