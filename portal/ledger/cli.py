"""``forewarn ledger verify``."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.services import verify


def register(app: Flask) -> None:
    @app.cli.group("ledger")
    def ledger():
        """The tamper-evident ledger."""

    @ledger.command("verify")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def verify_command(as_json: bool):
        """Check the whole hash chain; exit 1 at the first edited, removed or moved entry."""
        total = db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
        with click.progressbar(length=total, label="Verifying ledger", file=sys.stderr) as bar:
            result = verify(progress=bar.update)
        if as_json:
            click.echo(json.dumps(result.as_dict()))
        elif result.ok:
            click.echo(f"OK: {result.entries} entries, head {result.head_hash}")
        else:
            click.echo(f"BROKEN at entry {result.broken_seq}: {result.reason}")
        sys.exit(0 if result.ok else 1)
