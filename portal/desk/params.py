"""Reading the desk's query parameters (filter, search, page) with clear refusals.

The API answers a bad parameter with 400; the web pages show the message and fall back to
the defaults, so a mistyped link never produces an error page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from portal.errors import InvalidInput

FILTERS = {
    "not_acknowledged": "not acknowledged",
    "not_delivered": "notice not delivered",
    "breached": "notice breached",
    "objecting": "objecting",
}
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_SEARCH = 100


@dataclass(frozen=True)
class Listing:
    """What part of a list to show: an optional filter, a search text and a page."""

    filter: str | None = None
    q: str = ""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def args(self, **override) -> dict:
        """Query-string arguments reproducing this listing (for links and the pager)."""
        values = {
            "filter": self.filter or None,
            "q": self.q or None,
            "per_page": self.per_page if self.per_page != DEFAULT_PER_PAGE else None,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v is not None}


def _positive_int(raw: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw[:20]!r}", field=name) from None
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidInput(f"{name} must be at least 1{limit}", field=name)
    return value


def parse_listing(args: Mapping[str, str], *, filters: bool = True) -> Listing:
    """A ``Listing`` from request arguments; ``InvalidInput`` (400) names a bad one."""
    chosen = (args.get("filter") or "").strip() or None
    if chosen is not None and (not filters or chosen not in FILTERS):
        allowed = ", ".join(FILTERS) if filters else "none here"
        raise InvalidInput(f"unknown filter {chosen[:40]!r} (allowed: {allowed})", field="filter")
    q = (args.get("q") or "").strip()
    if len(q) > MAX_SEARCH:
        raise InvalidInput(f"search text is limited to {MAX_SEARCH} characters", field="q")
    page = _positive_int(args.get("page"), "page", 1)
    per_page = _positive_int(args.get("per_page"), "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    return Listing(chosen, q, page, per_page)


def parse_listing_leniently(
    args: Mapping[str, str], *, filters: bool = True
) -> tuple[Listing, str | None]:
    """For web pages: the listing, or the defaults (keeping what was valid) and a message."""
    try:
        return parse_listing(args, filters=filters), None
    except InvalidInput as err:
        cleaned = dict(args)
        cleaned.pop(err.field or "", None)
        try:
            return parse_listing(cleaned, filters=filters), err.message
        except InvalidInput:
            return Listing(), err.message
