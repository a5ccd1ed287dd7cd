"""Command-line entry points: ``flask --app portal …`` and, identically, ``forewarn …``.

Commands stay thin: parse, call a service, commit, report. Each feature registers its own
commands through ``register`` functions listed in ``COMMAND_MODULES``.

``forewarn`` works before the production settings exist: ``--help`` lists every command; a
command that needs a missing or bad setting says which, once, and exits 2; and beside a demo
(its key in the instance folder, no ``PORTAL_DATABASE_URL``) commands use the demo's database
and key, saying so on stderr.
"""

from __future__ import annotations

import copy
import functools
import secrets
import sys
from importlib import import_module
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, NoAppException, ScriptInfo

from portal import ConfigurationError, create_app

COMMAND_MODULES = [
    "portal.ledger.cli",
    "portal.tenants.cli",
    "portal.demo.cli",
    "portal.feeds.cli",
    "portal.notify.cli",
    "portal.auth.cli",
]

# Commands that need no settings: the demo makes its own; routes only lists URLs.
NO_SETTINGS_NEEDED = {"demo", "routes"}
EXIT_SETTINGS = 2  # like a usage error: nothing was attempted


def init_app(app: Flask) -> None:
    for name in COMMAND_MODULES:
        import_module(name).register(app)


def _create_app():
    try:
        return create_app()
    except ConfigurationError as err:
        missing = str(err)
    try:
        # Only to list and parse the commands; each one refuses to run (ForewarnGroup).
        app = create_app(
            {"SECRET_KEY": secrets.token_hex(32), "CLI_LISTING_ONLY": True}
            | {f"{name}_FILE": None for name in ("SECRET_KEY", "METRICS_TOKEN", "MAIL_PASSWORD")}
        )
    except ConfigurationError as err:
        raise NoAppException(missing) from err
    if (Path(app.instance_path) / "demo-secret-key").exists() and not app.config.get(
        "DATABASE_URL"
    ):
        demo = create_app({"DEMO": True})
        demo.config["CLI_NOTE"] = (
            f"No PORTAL_SECRET_KEY: using the demo's database "
            f"({demo.config['SQLALCHEMY_DATABASE_URI']}) and key."
        )
        return demo
    app.config["CLI_SETTINGS_MISSING"] = missing
    return app


def _before(command: click.Command, action) -> click.Command:
    """A copy of ``command`` (and of its subcommands) whose callbacks run ``action`` first;
    the originals are left alone. Group callbacks are not wrapped, so it runs once."""
    command = copy.copy(command)
    if isinstance(command, click.Group):
        command.commands = {n: _before(c, action) for n, c in command.commands.items()}
    elif command.callback is not None:
        original = command.callback

        @functools.wraps(original)
        def callback(*args, **kwargs):
            action()
            return original(*args, **kwargs)

        command.callback = callback
    return command


def _refuse(missing: str) -> None:
    path = click.get_current_context().command_path
    click.echo(
        f"Error: {path} needs a setting: {missing}\n"
        "(Beside a demo, run `forewarn demo` once: commands then use its database and key.)",
        err=True,
    )
    sys.exit(EXIT_SETTINGS)


class ForewarnGroup(FlaskGroup):
    """Flask's command group, with the settings check of the module docstring."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None or name in NO_SETTINGS_NEEDED:
            return command
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except NoAppException:
            return command
        missing = app.config.get("CLI_SETTINGS_MISSING")
        if missing:
            return _before(command, functools.partial(_refuse, missing))
        note = app.config.get("CLI_NOTE")
        if note:
            return _before(command, functools.partial(click.echo, note, err=True))
        return command


@click.group(
    cls=ForewarnGroup, create_app=_create_app, add_version_option=False, add_default_commands=True
)
def main():
    """Forewarn: change announcements with enforced notice windows."""


# `forewarn demo` builds its own demo app, so it hangs on the group itself and works before any
# production setting (PORTAL_SECRET_KEY) exists; `flask --app portal demo` finds it on app.cli.
from portal.demo.cli import demo_command  # noqa: E402

main.add_command(demo_command)
