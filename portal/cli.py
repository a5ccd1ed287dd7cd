"""Command-line entry points: ``flask --app portal …`` and, identically, ``forewarn …``.

Commands stay thin: parse, call a service, commit, report. Each feature registers its own
commands through ``register`` functions listed in ``COMMAND_MODULES``.
"""

from __future__ import annotations

from importlib import import_module

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException

COMMAND_MODULES = [
    "portal.ledger.cli",
    "portal.tenants.cli",
    "portal.demo.cli",
    "portal.feeds.cli",
    "portal.notify.cli",
]


def init_app(app: Flask) -> None:
    for name in COMMAND_MODULES:
        import_module(name).register(app)


def _create_app():
    from portal import ConfigurationError, create_app

    try:
        return create_app()
    except ConfigurationError as err:
        # Flask's CLI prints this as a one-line error (and still lists `demo`), not a traceback.
        raise NoAppException(str(err)) from err


@click.group(
    cls=FlaskGroup, create_app=_create_app, add_version_option=False, add_default_commands=True
)
def main():
    """Forewarn: change announcements with enforced notice windows."""


# `forewarn demo` builds its own demo app, so it hangs on the group itself and works before any
# production setting (PORTAL_SECRET_KEY) exists; `flask --app portal demo` finds it on app.cli.
from portal.demo.cli import demo_command  # noqa: E402

main.add_command(demo_command)
