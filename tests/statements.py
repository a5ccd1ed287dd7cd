"""Counting the SQL statements a piece of work runs (SQLAlchemy ``before_cursor_execute``).

Shared by the tests that hold a page or a panel to a constant number of statements whatever
its number of rows (issue 20); ``bench/desk.py`` and ``bench/lists.py`` count the same way.
"""

from __future__ import annotations

from flask import g
from sqlalchemy import event

from portal.extensions import db


def count_statements(fn, seen: list | None = None):
    """``(number of statements, fn())``: what ``fn`` runs, starting from an empty session and
    no signed-in user cached, as a real request starts. The statements' text is appended to
    ``seen`` when given (to show in an assertion message)."""
    db.session.remove()
    g.pop("_login_user", None)  # pytest-flask's context is shared by the client's requests
    statements = [] if seen is None else seen

    def listener(_conn, _cursor, statement, *_args, **_kwargs):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return len(statements), result
