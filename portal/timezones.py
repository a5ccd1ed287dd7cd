"""Time zones: validating names, parsing zoned input, and showing times to a viewer.

All times are stored in UTC and shown in the viewer's zone (their own setting, else their
tenant's, else the portal default). Inputs must carry an explicit zone: a naive time is refused,
never guessed. Arithmetic is done in UTC (aware datetimes in one zone subtract as wall time).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from portal.errors import InvalidInput

# The tz database's geographic areas (its files "africa" … "australasia", "backward" aside).
GEOGRAPHIC_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


def is_geographic(name: str) -> bool:
    """``Area/Location`` in a geographic area, or ``UTC``.

    Refused: ``localtime``, ``Factory``, ``posixrules`` (files, not zones); ``Etc/*``
    (``Etc/GMT+5`` is UTC-5: give an offset instead); POSIX-style ``EST5EDT``/``CET``; and the
    "backward" aliases (``US/Eastern``, ``GB``, ``Japan``), whose canonical names are accepted.
    """
    area, slash, _ = name.partition("/")
    return name == "UTC" or (bool(slash) and area in GEOGRAPHIC_AREAS)


@lru_cache(maxsize=1)
def _all_zones() -> frozenset[str]:
    return frozenset(available_timezones())


# Times the portal accepts at all (issue 17): every zone (UTC-12 … UTC+14) can show them, and
# they are far from the ends of Python's datetime range (years 1 … 9999).
EARLIEST_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
# How far ahead a change, a blackout window or an imported entry may be scheduled.
SCHEDULING_HORIZON = dt.timedelta(days=10 * 366)


def check_time_bounds(
    when: dt.datetime, field: str, *, now: dt.datetime | None = None
) -> dt.datetime:
    """``when`` unchanged if the portal can show it in every zone (``EARLIEST_TIME`` …
    ``LATEST_TIME``) and, given ``now``, it lies within ``SCHEDULING_HORIZON`` of it;
    else ``InvalidInput`` (400) naming ``field``."""
    if when.tzinfo is None:
        raise InvalidInput("the time has no zone", field=field)
    if not EARLIEST_TIME <= when < LATEST_TIME:
        raise InvalidInput(
            f"the time must lie between {EARLIEST_TIME.year} and {LATEST_TIME.year - 1}",
            field=field,
        )
    if now is not None and when > now + SCHEDULING_HORIZON:
        raise InvalidInput(
            f"the time is more than {SCHEDULING_HORIZON.days // 366} years ahead", field=field
        )
    return when


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The zones a user may choose (pickers, API input): geographic IANA names and UTC."""
    return tuple(sorted(z for z in _all_zones() | {"UTC"} if is_geographic(z)))


def get_zone(name: str | None, field: str = "time_zone") -> ZoneInfo:
    """A ZoneInfo for any tz database name (stored settings are shown even if an older rule
    accepted them); an unknown name is a 400 naming the field. Input uses ``input_zone``."""
    if not name:
        raise InvalidInput("a time zone is required", field=field)
    try:
        if name not in _all_zones() and name != "UTC":
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}", field=field) from None


def input_zone(name: str | None, field: str = "time_zone") -> ZoneInfo:
    """The ZoneInfo for a zone a user gives (``zone_names``); else a 400 naming the field."""
    if name and not is_geographic(name) and name in _all_zones():
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA Area/Location name (e.g. "
            "Europe/Berlin) or UTC",
            field=field,
        )
    return get_zone(name, field)


def is_zone(name: str | None) -> bool:
    """Whether a user may choose ``name`` (``zone_names``)."""
    try:
        input_zone(name)
    except InvalidInput:
        return False
    return True


def parse_aware(value: str, field: str, zone: str | None = None) -> dt.datetime:
    """Parse ISO-8601 input into aware UTC.

    ``value`` must carry an offset (``2026-03-29T01:30:00+01:00`` or ``…Z``), unless ``zone``
    names the zone the wall-clock time is in (the UI sends the zone as a separate field).
    Wall times that do not exist (spring-forward gap) or are ambiguous (fall-back overlap) in
    that zone are refused with a message saying so, and so are times outside
    ``EARLIEST_TIME`` … ``LATEST_TIME`` (``check_time_bounds``).
    """
    if not value or not isinstance(value, str):
        raise InvalidInput("a date and time is required", field=field)
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO-8601 date and time", field=field) from None
    if parsed.tzinfo is not None:
        if zone:
            raise InvalidInput("give either an offset or a time zone, not both", field=field)
        return check_time_bounds(_to_utc(parsed, field), field)
    if not zone:
        raise InvalidInput(
            "the time has no zone: add an offset (e.g. +02:00 or Z) or a time zone", field=field
        )
    tz = input_zone(zone, field=f"{field}_zone" if field else "time_zone")
    return check_time_bounds(localise(parsed, tz, field), field)


def _to_utc(when: dt.datetime, field: str) -> dt.datetime:
    """``when`` in UTC; a time whose UTC equivalent leaves years 1 … 9999 is a 400."""
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidInput(
            f"the time must lie between {EARLIEST_TIME.year} and {LATEST_TIME.year - 1}",
            field=field,
        ) from None


def localise(naive: dt.datetime, tz: ZoneInfo, field: str) -> dt.datetime:
    """Attach ``tz`` to a wall-clock time, refusing times that DST makes missing or doubled,
    and times outside ``EARLIEST_TIME`` … ``LATEST_TIME``."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    check_time_bounds(_to_utc(first, field), field)
    if first.utcoffset() != second.utcoffset():
        # Round trip tells a gap (time does not exist) from an overlap (it exists twice).
        back = first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise InvalidInput(
                f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks go forward)",
                field=field,
            )
        raise InvalidInput(
            f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (clocks go back); "
            "give an explicit offset",
            field=field,
        )
    return first.astimezone(dt.UTC)


def viewer_zone_name(user, default: str = "UTC") -> str:
    """The zone a user sees times in: their setting, their tenant's, else the default."""
    if user is not None and getattr(user, "is_authenticated", False):
        if user.time_zone:
            return user.time_zone
        if user.tenant is not None and user.tenant.time_zone:
            return user.tenant.time_zone
    return default


def offset_label(when: dt.datetime, zone: str | None = None) -> str:
    """The UTC offset of an aware ``when`` as people read it: ``UTC+8``, ``UTC+5:30``,
    ``UTC-3``, ``UTC+0`` (a zone that is at UTC just now), or ``UTC`` for ``zone == "UTC"``.

    Used instead of ``%Z``: abbreviations are ambiguous ("CST" is Taipei, Shanghai, Chicago
    and Havana; "IST" Kolkata, Dublin and Jerusalem) — issue 15 item 3.
    """
    if zone == "UTC":
        return "UTC"
    offset = when.utcoffset() or dt.timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")


def _utc_fallback(when: dt.datetime) -> str:
    """A time outside what a zone can show (a row stored before input was bounded)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_when(
    when: dt.datetime | None, zone: str, *, year: bool = True, seconds: bool = False
) -> str:
    """An aware time as a wall time in ``zone`` that nobody can misread:
    ``Thu 3 Dec 2026 05:00 UTC+8`` (``year=False``: ``Thu 3 Dec 05:00 UTC+8``;
    ``seconds=True``: ``05:00:07``). 24-hour clock, English day and month names, the UTC
    offset instead of an abbreviation. ``None`` gives "—"; an unknown zone raises
    ``InvalidInput``."""
    if when is None:
        return "—"
    tz = get_zone(zone)
    try:
        local = when.astimezone(tz)
    except OverflowError:
        return _utc_fallback(when)
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    date = f"{local:%a} {local.day} {local:%b}" + (f" {local.year}" if year else "")
    return f"{date} {clock} {offset_label(local, zone)}"


def format_when_and_utc(
    when: dt.datetime | None, zone: str, *, year: bool = True, seconds: bool = False
) -> str:
    """``format_when`` in ``zone`` followed by the same moment in UTC, for deadlines and
    starts: ``Thu 3 Dec 2026 05:00 UTC+8 (Wed 2 Dec 21:00 UTC)``. The UTC part carries its
    own date only when it differs from the local date; it is left out when the zone is at
    UTC just then (``UTC``, or London in winter: ``… 09:00 UTC+0``)."""
    if when is None:
        return "—"
    local_text = format_when(when, zone, year=year, seconds=seconds)
    try:
        local = when.astimezone(get_zone(zone))
    except OverflowError:
        return local_text
    if not local.utcoffset():
        return local_text
    utc = when.astimezone(dt.UTC)
    clock = f"{utc:%H:%M:%S}" if seconds else f"{utc:%H:%M}"
    if utc.date() == local.date():
        return f"{local_text} ({clock} UTC)"
    return f"{local_text} ({utc:%a} {utc.day} {utc:%b} {clock} UTC)"


def format_in_zone(when: dt.datetime | None, zone: str, fmt: str | None = None) -> str:
    """``when`` in ``zone``: by default ``format_when`` (``Thu 3 Dec 2026 05:00 UTC+8``);
    with a ``strftime`` ``fmt``, whose ``%Z`` becomes the UTC offset (``offset_label``),
    never an abbreviation."""
    if when is None:
        return "—"
    if fmt is None:
        return format_when(when, zone)
    try:
        local = when.astimezone(get_zone(zone))
        return local.strftime(fmt.replace("%Z", offset_label(local, zone)))
    except OverflowError:
        return _utc_fallback(when)


def _amount(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = round(seconds / 3600)
    if hours < 48:
        return f"{hours} h"
    return f"{round(seconds / 86400)} days"


def relative_to(when: dt.datetime | None, now: dt.datetime) -> str:
    """A rough hint of how far ``when`` is from ``now``, for pages next to the exact time:
    "in 3 days", "in 5 h", "in 20 min", "2 h ago", "now" (within a minute). Hours up to
    48 h, then whole days; both arguments aware. ``None`` gives ""."""
    if when is None:
        return ""
    seconds = (when.astimezone(dt.UTC) - now.astimezone(dt.UTC)).total_seconds()
    if abs(seconds) < 60:
        return "now"
    amount = _amount(abs(seconds))
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def format_duration(seconds: float | int) -> str:
    """72 h, 30 days, 1 h 30 min — the way people state notice periods."""
    seconds = int(seconds)
    if seconds % 86400 == 0 and seconds >= 7 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
