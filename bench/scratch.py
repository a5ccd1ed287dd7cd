"""A throwaway database for one benchmark run: a temporary SQLite file, or, given a PostgreSQL
URL, a new database on that server, dropped afterwards. The URL names the server (and the
database used to connect); a benchmark never writes into it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def scratch_database(url: str | None, name: str):
    """(url to use, "sqlite" | "postgresql", cleanup)."""
    if not url:
        folder = tempfile.mkdtemp(prefix=f"forewarn-{name}-")
        return (
            f"sqlite:///{Path(folder) / 'bench.sqlite3'}",
            "sqlite",
            lambda: shutil.rmtree(folder, ignore_errors=True),
        )
    from sqlalchemy import create_engine, make_url, text

    from portal import normalise_database_url

    base = make_url(normalise_database_url(url))
    database = f"forewarn_{name}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=database).render_as_string(hide_password=False), "postgresql", drop
