"""Web routes of the mailbox feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mailbox", __name__)
