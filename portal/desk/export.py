"""CSV export of the matrix, safe to open in a spreadsheet.

Outside text (tenant names, objection reasons, SMTP answers) may start with ``=``, ``+``,
``-`` or ``@`` (or a tab / carriage return), which spreadsheets run as a formula; such
cells are prefixed with an apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator

from portal.desk.matrix import MatrixRow

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

HEADER = [
    "tenant",
    "name",
    "first_party",
    "required_notice_hours",
    "notice_state",
    "notice_delivered_at_utc",
    "notice_problem",
    "gate_open",
    "gate_opens_at_utc",
    "gate_reason",
    "acknowledged_at_utc",
    "acknowledged_by",
    "objection",
    "waiver",
    "breach",
    "notice_contacts",
]


def safe_cell(value) -> str:
    """The cell's text, neutralised if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _iso(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_cells(row: MatrixRow) -> list:
    objection = row.open_objection
    waiver = row.waiver
    return [
        row.slug,
        row.name,
        "yes" if row.first_party else "no",
        f"{row.required_seconds / 3600:g}",
        row.delivery.state,
        _iso(row.delivery.at),
        row.delivery.reason,
        "yes" if row.gate.open else "no",
        _iso(row.gate.opens_at),
        row.gate.reason,
        _iso(row.ack.at) if row.ack else "",
        row.ack.actor_label if row.ack else "",
        f"{objection.actor_label}: {objection.reason}" if objection else "",
        f"agreed by {waiver.agreed_by}" if waiver else "",
        "; ".join(
            f"rev {b.revision_number}: {b.given_notice_seconds / 3600:g} h of "
            f"{b.required_notice_seconds / 3600:g} h"
            for b in row.breaches
        ),
        "; ".join(email for email, _ in row.contacts),
    ]


def csv_lines(rows: Iterable[MatrixRow]) -> Iterator[str]:
    """The CSV text, a line at a time (for a streamed response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(HEADER)
    yield flush()
    for row in rows:
        writer.writerow([safe_cell(c) for c in row_cells(row)])
        yield flush()
