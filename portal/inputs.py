"""What text the portal accepts: single-line values (titles, names, e-mail addresses,
references), multi-line text (bodies, reasons, notes) and ids written in text.

A control character (CR and LF above all) in a value that ends up in a mail header breaks
every message carrying it ("header injection"), so such values are refused at input, on every
path at once: ``portal.input_checks`` lists the model attributes that hold one line, and an
ORM ``set`` listener checks each assignment (forms, API, CSV import, upstream import, CLI),
raising ``InvalidInput`` naming the attribute, which views show as a form message or a 400.
``one_line`` is for output: it folds what older rows may still hold into one line.

Multi-line text may hold line breaks and tabs, but not the characters XML 1.0 forbids (§2.2
"Characters": the other C0 controls, lone surrogates, U+FFFE and U+FFFF), which no RSS or Atom
feed can carry, nor DEL, which no iCalendar TEXT value may (RFC 5545 §3.3.11): a vertical tab or a
pasted terminal colour code in one change's body would otherwise break the feeds of every
tenant it affects. ``check_text`` refuses them at input (``portal.input_checks`` lists the
attributes); ``clean_text`` drops them from outside text the portal does not refuse
(an upstream changelog) and from older rows on output.

An id or page number in text (a path segment that is a slug or an id, a query parameter) is
read by ``parse_id`` only: its canonical spelling, within the database's integers. ``01``,
``١`` (an Arabic-Indic one) or 25 nines would otherwise name tenant 1 under other URLs, or make
the database driver (or ``int`` itself, past 4,300 digits) fail with a 500.
"""

from __future__ import annotations

import re
from typing import Any

from portal.errors import InvalidInput

# The largest id or page number: PostgreSQL's ``integer``, the narrowest id column the portal
# has. Larger values name nothing (a 404 for a path, a 400 for a query parameter).
MAX_ID = 2**31 - 1
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,9}")
# C0 and C1 controls, DEL, the Unicode line and paragraph separators, lone surrogates and the
# two noncharacters XML 1.0 forbids.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
# What multi-line text may not hold: every character outside XML 1.0's Char production, and
# DEL, a CONTROL that iCalendar TEXT excludes (RFC 5545 §3.3.11) though XML allows it.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def has_control_characters(value: str) -> bool:
    """True if ``value`` has a control character (tab, CR and LF included) or a separator."""
    return bool(_CONTROL.search(value))


def check_single_line(value: Any, field: str) -> Any:
    """``value`` unchanged, or ``InvalidInput`` (400) naming ``field`` when it is a string
    with a control character. Non-strings pass (other checks own their types)."""
    if isinstance(value, str) and has_control_characters(value):
        raise InvalidInput(
            "must be a single line without control characters (no line breaks or tabs)",
            field=field,
        )
    return value


def check_text(value: Any, field: str) -> Any:
    """``value`` unchanged, or ``InvalidInput`` (400) naming ``field`` and the first character
    when it is a string holding one that feeds, calendars and mails cannot carry (XML 1.0 §2.2;
    line breaks and tabs are fine). Non-strings pass (other checks own their types)."""
    if isinstance(value, str):
        found = _NOT_TEXT.search(value)
        if found is not None:
            raise InvalidInput(
                f"contains a control character (U+{ord(found.group()):04X}) that feeds, "
                "calendars and mails cannot carry; remove it (pasted terminal output often "
                "holds one)",
                field=field,
            )
    return value


def clean_text(value: str | None) -> str:
    """``value`` without the characters ``check_text`` refuses (for outside text, and for
    rows stored before the check)."""
    return _NOT_TEXT.sub("", value or "")


def parse_id(value: Any, maximum: int = MAX_ID) -> int | None:
    """``value`` as an id from 1 to ``maximum`` when it is one (an int, or ASCII digits without
    a leading zero), else None; never raises, whatever the text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= maximum else None
    if not isinstance(value, str) or not _CANONICAL_ID.fullmatch(value):
        return None
    number = int(value)
    return number if number <= maximum else None


def one_line(value: str | None) -> str:
    """``value`` with every run of whitespace and control characters folded into one space."""
    return " ".join(_CONTROL.sub(" ", value or "").split())


class SingleLine:
    """WTForms validator: the field's text is one line without control characters."""

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        if isinstance(field.data, str) and has_control_characters(field.data):
            raise ValidationError("Use a single line without control characters.")
