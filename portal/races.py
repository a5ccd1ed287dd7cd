"""Known races between concurrent requests, told as a 409 instead of a 500.

Two requests that both pass their checks and then write the same unique key (two publishes of
one draft, two additions of one contact) meet at the database's constraint: the second fails
with an ``IntegrityError``. That is a conflict with what the other request just did, not a
fault of the server: the request is refused with HTTP 409 and a message saying to reload.
Unique and foreign-key violations are such races (PostgreSQL SQLSTATE 23505 / 23503, SQLite
"UNIQUE constraint failed" / "FOREIGN KEY constraint failed"); any other integrity error
(NOT NULL, CHECK) is a bug and stays a 500.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from portal.errors import Conflict

RACE_SQLSTATES = {"23505": "unique", "23503": "foreign key"}
RACE_MESSAGES = {
    "UNIQUE constraint failed": "unique",
    "FOREIGN KEY constraint failed": "foreign key",
}


def race_kind(err: IntegrityError) -> str | None:
    """ "unique" or "foreign key" when ``err`` is a constraint race, else None."""
    orig = getattr(err, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in RACE_SQLSTATES:
        return RACE_SQLSTATES[sqlstate]
    text = str(orig or err)
    return next((kind for marker, kind in RACE_MESSAGES.items() if marker in text), None)


def conflict_for(err: IntegrityError) -> Conflict | None:
    """The 409 to answer for a known constraint race, or None (a real error: 500)."""
    kind = race_kind(err)
    if kind is None:
        return None
    return Conflict(
        "someone else changed this at the same moment; reload the page and try again",
        race=kind,
    )
