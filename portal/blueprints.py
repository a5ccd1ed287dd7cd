"""The list of blueprints the app registers, one or two per feature package."""

from __future__ import annotations

from importlib import import_module

# (module, attribute). Feature API blueprints are built with ``portal.api.base.api_blueprint``.
BLUEPRINT_PATHS = [
    ("portal.web.routes", "bp"),
    ("portal.auth.routes", "bp"),
    ("portal.tenants.routes", "bp"),
    ("portal.tenants.self_service", "bp"),
    ("portal.auth.admin", "bp"),
    ("portal.catalog.routes", "bp"),
    ("portal.ledger.routes", "bp"),
    ("portal.mailbox.routes", "bp"),
    ("portal.changes.routes", "bp"),
    ("portal.changes.routes_editor", "bp"),  # more views on the same ``changes`` blueprint
    ("portal.changes.routes_actions", "bp"),
    ("portal.changes.routes_admin", "bp"),
    ("portal.changes.routes_blackouts", "bp"),
    ("portal.notify.routes", "bp"),
    ("portal.feeds.routes", "bp"),
    ("portal.acks.routes", "bp"),
    ("portal.api.routes", "bp"),
    ("portal.api.openapi", "spec_bp"),
    ("portal.changes.api", "bp"),
    ("portal.acks.api", "bp"),
    ("portal.desk.routes", "bp"),
    ("portal.desk.api", "bp"),
    ("portal.certificates.routes", "bp"),
    ("portal.certificates.routes", "api_bp"),
    ("portal.ops.routes", "bp"),
]


def BLUEPRINTS() -> list:  # noqa: N802  (reads like the constant it stands for)
    """Each blueprint once, after importing every module that adds views to it."""
    found: list = []
    for mod, attr in BLUEPRINT_PATHS:
        blueprint = getattr(import_module(mod), attr)
        if not any(b is blueprint for b in found):
            found.append(blueprint)
    return found
