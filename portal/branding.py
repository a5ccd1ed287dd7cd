"""The provider's brand on everything customers read (issue 15 item 2; DESIGN.md "What
customers read"): its name, logo and accent colour head every notice, not the tool's name.

Settings (README "Configuration"): ``PROVIDER_NAME`` (default: the display name of
``MAIL_DEFAULT_SENDER``), ``PROVIDER_LOGO_URL`` (absolute http(s), or a path on ``BASE_URL``
such as ``/static/brand/logo.png``; none by default) and ``PROVIDER_ACCENT_COLOUR``
(``#rrggbb``). They are checked when the app is built (``check_branding``), so a bad value
stops the start with the setting's name instead of reaching a mail's ``style`` attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from portal.config import ConfigurationError
from portal.inputs import has_control_characters

DEFAULT_ACCENT = "#1f5fbf"
MAX_NAME_LENGTH = 100
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")


@dataclass(frozen=True)
class Brand:
    """What heads a notice: ``name``; ``logo_url`` (absolute, "" for none); ``accent`` as
    ``#rrggbb``; ``on_accent``, the text colour readable on the accent (black or white, by
    WCAG 2.1 contrast)."""

    name: str
    logo_url: str
    accent: str
    on_accent: str


# Until a batch reads the configuration (``brand_of``).
DEFAULT_BRAND = Brand("Change notices", "", DEFAULT_ACCENT, "#ffffff")


class BrandingError(ValueError):
    """A branding setting is unusable; the message names the setting."""


def _sender_name(sender) -> str:
    if isinstance(sender, tuple | list) and sender:  # Flask-Mail also takes (name, address)
        return str(sender[0])
    return parseaddr(str(sender or ""))[0]


def _long_hex(colour: str) -> str:
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits.lower()


def _luminance(colour: str) -> float:
    """Relative luminance of ``#rrggbb`` (WCAG 2.1, "relative luminance")."""
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_on(colour: str) -> str:
    """``#ffffff`` or ``#000000``, whichever contrasts more with ``#rrggbb`` ``colour``."""
    lum = _luminance(colour)
    white = 1.05 / (lum + 0.05)
    black = (lum + 0.05) / 0.05
    return "#ffffff" if white >= black else "#000000"


def brand_of(config) -> Brand:
    """The brand from a Flask config mapping; raises ``BrandingError`` naming the bad setting.

    The name falls back to the sender's display name, then to the base URL's host."""
    raw = str(config.get("PROVIDER_NAME") or "")
    if has_control_characters(raw.strip()):
        raise BrandingError("PROVIDER_NAME must be one line without control characters")
    name = " ".join(raw.split())
    if not name:
        name = " ".join(_sender_name(config.get("MAIL_DEFAULT_SENDER")).split())
    if not name:
        name = urlsplit(str(config.get("BASE_URL") or "")).hostname or "Change notices"
    if len(name) > MAX_NAME_LENGTH or has_control_characters(name):
        raise BrandingError(f"PROVIDER_NAME must be at most {MAX_NAME_LENGTH} characters")
    accent = str(config.get("PROVIDER_ACCENT_COLOUR") or DEFAULT_ACCENT).strip()
    if not _HEX_COLOUR.fullmatch(accent):
        raise BrandingError(
            f"PROVIDER_ACCENT_COLOUR must be a hex colour such as {DEFAULT_ACCENT}, not {accent!r}"
        )
    accent = _long_hex(accent)
    return Brand(name, _logo_url(config), accent, readable_on(accent))


def _logo_url(config) -> str:
    logo = str(config.get("PROVIDER_LOGO_URL") or "").strip()
    if not logo:
        return ""
    if logo.startswith("/") and not logo.startswith("//"):
        logo = str(config.get("BASE_URL") or "").rstrip("/") + logo
    parts = urlsplit(logo)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or has_control_characters(logo)
        or any(c in logo for c in " \"'<>")
    ):
        raise BrandingError(
            "PROVIDER_LOGO_URL must be an http(s) URL or a path on BASE_URL "
            f"(such as /static/brand/logo.png), not {logo!r}"
        )
    return logo


def check_branding(config) -> None:
    """Raise ``portal.ConfigurationError`` when a branding setting is unusable."""
    try:
        brand_of(config)
    except BrandingError as err:
        raise ConfigurationError(f"PORTAL_{err}") from None
