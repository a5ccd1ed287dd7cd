"""JSON API of the changes feature."""

from __future__ import annotations

from portal.api.base import api_blueprint

bp = api_blueprint("changes_api", __name__)
