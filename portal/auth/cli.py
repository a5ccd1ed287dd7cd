"""``forewarn users create-admin EMAIL``: the first account of a fresh installation."""

from __future__ import annotations

import sys

import click
from flask import Flask

from portal.clock import now
from portal.errors import InvalidInput
from portal.extensions import db
from portal.tenants import accounts


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def register(app: Flask) -> None:
    """Add this feature's commands to ``app.cli``."""

    @app.cli.group("users")
    def users():
        """User accounts."""

    @users.command("create-admin")
    @click.argument("email")
    @click.option("--name", default=None, help="Display name [default: the part before the @].")
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of standard input instead of prompting.",
    )
    def create_admin_command(email: str, name: str | None, password_stdin: bool):
        """Create a provider admin (the first step after `forewarn db upgrade`).

        The password (12+ characters) is asked twice, or read from stdin with
        --password-stdin. The account is written to the ledger with the actor "cli". Exits 1
        when the email is taken or the input is refused, saying why."""
        password = _read_password(password_stdin)
        try:
            user = accounts.create_user(
                email=email,
                name=name or email.split("@")[0],
                password=password,
                actor="cli",
                now=now(),
                is_admin=True,
            )
            db.session.commit()
        except InvalidInput as err:
            db.session.rollback()
            click.echo(f"Error: {err.message}; nothing was written.", err=True)
            sys.exit(1)
        click.echo(f"Admin {user.email} created. Sign in at the portal's /login page.")
