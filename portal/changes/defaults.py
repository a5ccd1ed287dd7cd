"""Built-in impact levels and their global policy notice (DESIGN.md "Core concepts").

The first migration inserts the same rows; admins may change the notice or add levels.
"""

from __future__ import annotations

from typing import Any

HOUR = 3600
DAY = 24 * HOUR

DEFAULT_IMPACT_LEVELS: list[dict[str, Any]] = [
    {"code": "maintenance", "name": "Maintenance", "rank": 10, "notice_seconds": 24 * HOUR},
    {"code": "degradation", "name": "Degradation", "rank": 20, "notice_seconds": 72 * HOUR},
    {"code": "breaking", "name": "Breaking change", "rank": 30, "notice_seconds": 30 * DAY},
    {"code": "deprecation", "name": "Deprecation", "rank": 40, "notice_seconds": 90 * DAY},
]
