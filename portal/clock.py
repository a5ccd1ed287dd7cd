"""The one clock of the application.

Services never call ``datetime.now()``: views and commands ask the app's clock for ``now`` and
pass it down, so tests and the demo's time-travel control can move time. Production always uses
real time; only demo mode (``DEMO = True``) honours the shared time-travel offset, which is kept
in the database so that the web server and the worker agree on what time it is.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, has_request_context, request

from portal.settings_store import get_setting, set_setting


def utcnow() -> dt.datetime:
    """Real wall-clock time in UTC."""
    return dt.datetime.now(dt.UTC)


class SystemClock:
    """Real time, with an optional offset shared through the database (demo only)."""

    def __init__(self, travel: bool = False):
        self.travel = travel

    def offset(self) -> dt.timedelta:
        if not self.travel:
            return dt.timedelta(0)
        return dt.timedelta(seconds=float(get_setting("clock_offset_seconds", "0")))

    def now(self) -> dt.datetime:
        return utcnow() + self.offset()

    def travel_by(self, delta: dt.timedelta) -> dt.datetime:
        """Move demo time forward; refused outside demo mode."""
        if not self.travel:
            raise RuntimeError("time travel is only available in demo mode")
        new = self.offset() + delta
        set_setting("clock_offset_seconds", str(new.total_seconds()))
        return utcnow() + new


class FrozenClock:
    """A clock that stands still until told to move; used by tests."""

    travel = True

    def __init__(self, at: dt.datetime):
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, at: dt.datetime) -> None:
        self._now = at.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta | None = None, **kwargs) -> dt.datetime:
        self._now += delta if delta is not None else dt.timedelta(**kwargs)
        return self._now

    def travel_by(self, delta: dt.timedelta) -> dt.datetime:
        return self.advance(delta)


def get_clock():
    """The clock bound to the current app."""
    return current_app.extensions["forewarn.clock"]


def now() -> dt.datetime:
    """Current time per the app's clock; fixed for the length of one web request."""
    if not has_request_context():
        return get_clock().now()
    environ = request.environ  # one proxy lookup: this runs on every feed poll
    at = environ.get("forewarn.now")
    if at is None:
        at = environ["forewarn.now"] = get_clock().now()
    return at
