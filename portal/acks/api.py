"""JSON API of the acks feature."""

from __future__ import annotations

from portal.api.base import api_blueprint

bp = api_blueprint("acks_api", __name__)
