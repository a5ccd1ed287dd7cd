"""A tiny key/value table for runtime state shared across processes (e.g. demo time offset)."""

from __future__ import annotations

from typing import overload

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import Model, db


class AppSetting(Model):
    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@overload
def get_setting(key: str, default: str) -> str: ...


@overload
def get_setting(key: str, default: None = None) -> str | None: ...


def get_setting(key: str, default: str | None = None) -> str | None:
    """The stored value of ``key``, else ``default``."""
    row = db.session.get(AppSetting, key)
    return row.value if row is not None else default


def set_setting(key: str, value: str) -> None:
    """Upsert a setting; the caller commits."""
    row = db.session.get(AppSetting, key)
    if row is None:
        db.session.add(AppSetting(key=key, value=value))
    else:
        row.value = value
    db.session.flush()
