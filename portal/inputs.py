"""Single-line text: titles, names, e-mail addresses, references.

A control character (CR and LF above all) in a value that ends up in a mail header breaks
every message carrying it ("header injection"), so such values are refused at input, on every
path at once: ``portal.input_checks`` lists the model attributes that hold one line, and an
ORM ``set`` listener checks each assignment (forms, API, CSV import, upstream import, CLI),
raising ``InvalidInput`` naming the attribute, which views show as a form message or a 400.
``one_line`` is for output: it folds what older rows may still hold into one line.
"""

from __future__ import annotations

import re
from typing import Any

from portal.errors import InvalidInput

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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


def one_line(value: str | None) -> str:
    """``value`` with every run of whitespace and control characters folded into one space."""
    return " ".join(_CONTROL.sub(" ", value or "").split())


class SingleLine:
    """WTForms validator: the field's text is one line without control characters."""

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        if isinstance(field.data, str) and has_control_characters(field.data):
            raise ValidationError("Use a single line without control characters.")
