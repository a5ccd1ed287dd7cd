"""The one shape of a view that changes state (STYLE.md habit 2; issue #19 item 4).

A view calls one service, commits once, and on a refusal (a ``DomainError``) rolls back and
hands the refusal to its page: a form message on the field it names, or a flashed line.
``commit`` returns the service's answer or the refusal, so the view reads as
``done = commit(...)``, ``if isinstance(done, DomainError): …``, then the success path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash
from flask_wtf import FlaskForm

from portal.errors import DomainError
from portal.extensions import db
from portal.tenants.forms import show_error

T = TypeVar("T")


def commit(
    action: Callable[[], T],
    *,
    refusals: type[DomainError] | tuple[type[DomainError], ...] = DomainError,
) -> T | DomainError:
    """Run ``action`` (one service call), then commit; a refusal of the kinds ``refusals``
    names (any ``DomainError`` by default) rolls back and is returned instead of raised.
    Other exceptions propagate, leaving the rollback to the request teardown."""
    try:
        result = action()
        db.session.commit()
    except refusals as err:
        db.session.rollback()
        return err
    return result


def commit_or_show(
    form: FlaskForm,
    action: Callable[[], T],
    *,
    field: str,
    refusals: type[DomainError] | tuple[type[DomainError], ...] = DomainError,
) -> T | DomainError:
    """``commit``; a refusal is shown on the form field it names, else on ``field``.
    ``refusals`` narrows the kinds handled, as for ``commit`` (others propagate)."""
    result = commit(action, refusals=refusals)
    if isinstance(result, DomainError):
        show_error(form, result, field)
    return result


def commit_or_flash(
    action: Callable[[], T], *, prefix: str = "", suffix: str = ""
) -> T | DomainError:
    """``commit``; a refusal is flashed as an error, ``prefix + message + suffix``."""
    result = commit(action)
    if isinstance(result, DomainError):
        flash(f"{prefix}{result.message}{suffix}", "error")
    return result
