"""``forewarn ledger verify | keygen | public-key | checkpoint``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import func, select

from forewarn_verify.cli import Unusable, note_in
from portal.clock import get_clock
from portal.extensions import db
from portal.ledger import checkpoints, keys
from portal.ledger.audit import audit
from portal.ledger.models import LedgerEntry


def register(app: Flask) -> None:
    @app.cli.group("ledger")
    def ledger():
        """The tamper-evident ledger."""

    @ledger.command("verify")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.option(
        "--checkpoint",
        "witnesses",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False),
        help="Also check against a checkpoint kept elsewhere (a saved email, feed or note).",
    )
    def verify_command(as_json: bool, witnesses: tuple[str, ...]):
        """Check the hash chain, the Merkle tree and signed checkpoints; exit 1 on any fault."""
        try:
            given = {f"checkpoint {p}": note_in(Path(p).read_bytes(), p) for p in witnesses}
        except Unusable as err:
            raise click.ClickException(str(err)) from None
        total = db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
        with click.progressbar(length=total, label="Verifying ledger", file=sys.stderr) as bar:
            result = audit(given, progress=bar.update)
        chain = result.chain
        if as_json:
            click.echo(json.dumps(result.as_dict()))
        elif result.ok:
            signed = "; ".join(result.checkpoints_checked) or "no signed checkpoint yet"
            click.echo(f"OK: {chain.entries} entries, head {chain.head_hash}; {signed}")
        else:
            if not chain.ok:
                click.echo(f"BROKEN at entry {chain.broken_seq}: {chain.reason}")
            for problem in result.problems:
                click.echo(f"BROKEN: {problem}")
        sys.exit(0 if result.ok else 1)

    @ledger.command("keygen")
    @click.option("--rotate", is_flag=True, help="Replace an existing key (the old one retires).")
    def keygen_command(rotate: bool):
        """Create the Ed25519 key that signs checkpoints (LEDGER_SIGNING_KEY_FILE)."""
        try:
            signer = keys.keygen(rotate=rotate)
        except FileExistsError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"Signing key written to {keys.key_path()} (keep it secret, back it up).")
        click.echo(f"Public key: {signer.verifier.encoded()}")

    @ledger.command("public-key")
    @click.option("--all", "every", is_flag=True, help="Also the retired keys.")
    def public_key_command(every: bool):
        """Print the public key customers verify checkpoints with."""
        found = keys.trusted_verifiers()
        if not found or not keys.has_signer() and not every:
            raise click.ClickException(
                f"no signing key at {keys.key_path()}; run `forewarn ledger keygen`"
            )
        for verifier in found if every else found[:1]:
            click.echo(verifier.encoded())

    @ledger.command("checkpoint")
    def checkpoint_command():
        """Sign a checkpoint of the ledger now (the worker does this on its own) and print it."""
        try:
            row = checkpoints.issue(get_clock().now())
        except keys.KeyMissing as err:
            raise click.ClickException(str(err)) from None
        db.session.commit()
        row = row or checkpoints.latest()
        if row is None:
            raise click.ClickException("the ledger is empty: nothing to sign")
        checkpoints.write_witness(row.note)
        click.echo(row.note, nl=False)
