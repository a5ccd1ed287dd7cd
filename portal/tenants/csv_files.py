"""Reading the CSV files of ``forewarn import``: encoding, header and rows with line numbers.

Reading never raises for bad content: every problem becomes a ``RowError`` naming the file,
the line, the column and the reason, so that one run reports all of them (docs/import.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Guard against a stray binary or a runaway field: no sane cell is this long.
csv.field_size_limit(64 * 1024)


@dataclass(frozen=True)
class RowError:
    """One problem in one file: ``line`` is 1-based (the header is line 1)."""

    file: str
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return (
            f"{where}: column {self.column!r}: {self.reason}"
            if self.column
            else f"{where}: {self.reason}"
        )


@dataclass
class Row:
    """A data row: values by column name (stripped; missing optional columns are "")."""

    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class CsvFile:
    """A decoded file with its rows, or the errors that stopped it being read."""

    name: str
    rows: list[Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def decode(data: bytes, name: str) -> str | RowError:
    """UTF-8 text (a byte-order mark is dropped), or an error naming the line of the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        return RowError(
            name,
            line,
            None,
            f"not UTF-8 (byte 0x{data[err.start]:02x} at character {column}); "
            "save the file as UTF-8",
        )


def read_csv(
    path: Path | str, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> CsvFile:
    """Read ``path``: check the header against the expected columns, keep every data row."""
    path = Path(path)
    result = CsvFile(path.name)
    try:
        data = path.read_bytes()
    except OSError as err:
        result.errors.append(RowError(path.name, 0, None, f"cannot read the file: {err.strerror}"))
        return result
    text = decode(data, path.name)
    if isinstance(text, RowError):
        result.errors.append(text)
        return result
    rows = _records(text, result)
    header = next(rows, None)
    if header is None:
        result.errors.append(
            RowError(
                path.name,
                1,
                None,
                f"the file is empty (expected a header line: {','.join(required + optional)})",
            )
        )
        return result
    columns = _check_header(header[1], required, optional, result)
    if columns is None:
        return result
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue  # blank lines are allowed, e.g. at the end
        if len(cells) != len(columns):
            result.errors.append(
                RowError(
                    path.name,
                    line,
                    None,
                    f"expected {len(columns)} fields ({','.join(columns)}), found {len(cells)}",
                )
            )
            continue
        result.rows.append(Row(line, {c: v.strip() for c, v in zip(columns, cells, strict=True)}))
    return result


def _records(text: str, result: CsvFile) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record; a malformed record ends the file with an error."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            result.errors.append(
                RowError(result.name, reader.line_num or 1, None, f"malformed CSV: {err}")
            )
            return
        yield previous_end + 1, cells
        previous_end = reader.line_num


def _check_header(
    header: list[str], required: tuple[str, ...], optional: tuple[str, ...], result: CsvFile
) -> list[str] | None:
    columns = [h.strip().lower() for h in header]
    known = set(required) | set(optional)
    problems = []
    missing = [c for c in required if c not in columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    unknown = [c for c in columns if c not in known]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(repr(c) for c in unknown)} "
            f"(expected {','.join(required + optional)})"
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        result.errors.append(RowError(result.name, 1, None, "header: " + "; ".join(problems)))
        return None
    return columns
