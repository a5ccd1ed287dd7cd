"""Commands of the tenants feature: ``forewarn import`` (tenants, contacts and usage from CSV)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.exc import IntegrityError

from portal.clock import now
from portal.extensions import db
from portal.tenants.importing import ImportRefused, apply_plan, plan_import, plan_size

MAX_ERRORS_SHOWN = 200

CsvPath = click.Path(exists=True, dir_okay=False, path_type=Path)


def register(app: Flask) -> None:
    """Add this feature's commands to ``app.cli``."""

    @app.cli.command("import")
    @click.option("--tenants", type=CsvPath, help="CSV: slug,name[,time_zone][,first_party]")
    @click.option("--contacts", type=CsvPath, help="CSV: tenant,email[,name]")
    @click.option("--usage", type=CsvPath, help="CSV: tenant,service[,component]")
    @click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
    def import_command(
        tenants: Path | None, contacts: Path | None, usage: Path | None, dry_run: bool
    ):
        """Load tenants, notice contacts and usage from CSV files (see docs/import.md).

        Every file is validated first and every error is reported as FILE:LINE: column: reason;
        if there is any error nothing is written. Otherwise everything is written in one
        transaction. Re-running the same files changes nothing (upsert by slug).
        """
        if not (tenants or contacts or usage):
            raise click.UsageError("give at least one of --tenants, --contacts, --usage")
        try:
            plan = plan_import(tenants=tenants, contacts=contacts, usage=usage)
        except ImportRefused as refused:
            db.session.rollback()
            for error in refused.errors[:MAX_ERRORS_SHOWN]:
                click.echo(str(error), err=True)
            hidden = len(refused.errors) - MAX_ERRORS_SHOWN
            if hidden > 0:
                click.echo(f"… and {hidden} more error(s)", err=True)
            click.echo(
                f"Import refused: {len(refused.errors)} error(s); nothing was written.", err=True
            )
            sys.exit(1)
        if dry_run:
            db.session.rollback()
            click.echo(f"Dry run, nothing written. Would import {plan.summary()}.")
            return
        try:
            with click.progressbar(
                length=plan_size(plan), label="Importing", file=sys.stderr
            ) as bar:
                apply_plan(plan, now=now(), progress=bar.update)
            db.session.commit()
        except IntegrityError as err:
            # Someone else wrote the same rows between validation and commit.
            db.session.rollback()
            click.echo(
                f"Import refused: the database changed during the import ({err.orig}); "
                "nothing was written. Run it again.",
                err=True,
            )
            sys.exit(1)
        except Exception:
            db.session.rollback()
            raise
        click.echo(f"Imported {plan.summary()}.")
