"""Defences that apply to every request: input hygiene, JSON limits, security headers, proxies.

- **Ids in paths** are bounded by the ``int`` URL converter (``MAX_ID``, PostgreSQL's
  ``integer``): a larger id matches no route and answers 404 instead of overflowing the
  database driver (SQLite stops at 2^63, PostgreSQL's ``integer`` at 2^31).
- **Query strings and paths** carrying NUL (which PostgreSQL can neither store nor compare),
  CR or LF (header injection through ``next=`` and the like) are refused: 404 for a path, 400
  naming the parameter for a query string. Page numbers above ``MAX_ID`` are a 400.
- **Form bodies** (not the API's, which reads its own after authenticating) are refused with a
  400 when a value carries NUL.
- **JSON** is parsed only when a view asks for it (after authentication), through
  ``SafeJSONProvider``: nesting deeper than ``MAX_JSON_DEPTH``, lone surrogates and NUL are a
  400. ``MAX_CONTENT_LENGTH`` caps every body (413).
- **Headers** (Flask-Talisman): a Content-Security-Policy without inline scripts,
  ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``, ``nosniff``, a Referrer-Policy, and
  HSTS on HTTPS requests. Pages that show a secret once call ``no_store()`` from the template
  and are sent with ``Cache-Control: no-store``.
- **Proxies**: with ``TRUSTED_PROXY_COUNT`` = N > 0, ``ProxyFix`` takes the client address,
  scheme and host from the last N proxies' ``X-Forwarded-*`` headers (the rate limits then
  count the real client, and HSTS and Secure cookies see HTTPS).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, abort, g, request
from flask.json.provider import DefaultJSONProvider
from flask_talisman import Talisman
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal.errors import InvalidInput
from portal.input_checks import install_single_line_checks
from portal.inputs import MAX_ID

MAX_JSON_DEPTH = 32
# Characters no query-string value or path may carry.
FORBIDDEN_IN_URL = re.compile(r"[\x00\r\n]")
PAGE_PARAMETERS = ("page", "per_page")
# Views that never read the query string: feed readers append junk to feed URLs, and it is
# ignored there by design (DESIGN.md "Feeds"), so it cannot reach the database either.
QUERY_STRING_IGNORED = {"feeds.private_feed", "feeds.public_feed", "static"}

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    # Inline style attributes remain (e-mail previews, print layouts); styles cannot run code.
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


class PortalTalisman(Talisman):
    """Talisman that keeps what a view set itself: its own ``Referrer-Policy`` (private feeds
    say ``no-referrer``) wins, and its own CSP directives (a raw mail view's ``sandbox``) are
    added to the site's policy instead of being replaced by it."""

    def _set_response_headers(self, response):
        own_referrer = response.headers.get("Referrer-Policy")
        own_csp = response.headers.get("Content-Security-Policy")
        response = super()._set_response_headers(response)
        if own_referrer:
            response.headers["Referrer-Policy"] = own_referrer
        site_csp = response.headers.get("Content-Security-Policy")
        if own_csp and site_csp and own_csp != site_csp:
            response.headers["Content-Security-Policy"] = f"{site_csp}; {own_csp}"
        return response


talisman = PortalTalisman()


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that matches only 0 … ``MAX_ID`` (a larger id cannot exist: 404)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing (400) documents nested deeper than ``MAX_JSON_DEPTH``, strings
    with lone surrogates (not encodable as UTF-8, RFC 8259 §8.2) and strings with NUL."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        check_json_depth(s)
        value = json.loads(s, **kwargs)
        check_json_strings(value)
        return value


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


def check_json_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``BadRequest`` when the JSON text nests arrays/objects deeper than ``limit``.

    Runs before parsing, so that a deeply nested document never reaches the recursive parser.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    depth = 0
    for match in _JSON_BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                raise BadRequest(f"the JSON body is nested deeper than {limit} levels")
        else:
            depth -= 1


def check_json_strings(value: Any) -> None:
    """Raise ``BadRequest`` when any key or string in ``value`` has NUL or a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise BadRequest("the JSON body contains a NUL character")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadRequest("the JSON body contains an unpaired surrogate") from None


def refuse_bad_urls() -> None:
    """Before every request: no NUL/CR/LF in the path (404) or the query string (400, except
    for views in ``QUERY_STRING_IGNORED``), and page numbers within ``MAX_ID`` (``_too_big``);
    no NUL in a
    form body (400)."""
    if FORBIDDEN_IN_URL.search(request.path):
        abort(404)
    args = () if request.endpoint in QUERY_STRING_IGNORED else request.args.items(multi=True)
    for key, value in args:
        if FORBIDDEN_IN_URL.search(key) or FORBIDDEN_IN_URL.search(value):
            raise InvalidInput(
                f"the query parameter {key[:40]!r} contains a control character", field=key[:40]
            )
        if key in PAGE_PARAMETERS and _too_big(value):
            raise InvalidInput(f"{key} must be a whole number up to {MAX_ID}", field=key)
    if (
        request.method in ("POST", "PUT", "PATCH", "DELETE")
        and not request.path.startswith("/api/")  # the API reads its body after authenticating
        and not request.is_json
    ):
        if any("\x00" in v for _, v in request.form.items(multi=True)):
            abort(400, description="the input contains a NUL character")


def _too_big(value: str) -> bool:
    """Whether a page number is one that ``int`` (which Flask-SQLAlchemy's pagination calls)
    reads as more than ``MAX_ID``, or too long to be any page: ``+9…9``, `` 9_999…``, 5,000
    digits (``int`` itself fails past 4,300). Other junk (``abc``) falls back to page 1."""
    if len(value) > 20:
        return True
    try:
        return int(value) > MAX_ID
    except ValueError:
        return False


def no_store() -> str:
    """Template helper: this page shows a secret once; send it with ``Cache-Control: no-store``.

    Returns "" so that ``{{ no_store() }}`` renders nothing.
    """
    g.forewarn_no_store = True
    return ""


def _apply_no_store(response):
    if g.get("forewarn_no_store"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Install the converter, the request checks, the JSON provider, headers and ProxyFix.

    Call before blueprints are registered (their rules bind the ``int`` converter).
    """
    install_single_line_checks()
    app.url_map.converters["int"] = BoundedIntConverter
    app.json_provider_class = SafeJSONProvider
    app.json = SafeJSONProvider(app)
    app.before_request(refuse_bad_urls)
    app.after_request(_apply_no_store)
    app.jinja_env.globals["no_store"] = no_store

    # A bad value is refused at startup by portal.ops (ConfigurationError naming the setting).
    proxies = app.config.get("TRUSTED_PROXY_COUNT") or 0
    if isinstance(proxies, int) and not isinstance(proxies, bool) and 0 < proxies <= 5:
        # Flask's documented way to sit behind a proxy; Flask types wsgi_app as a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )

    talisman.init_app(
        app,
        force_https=bool(app.config.get("FORCE_HTTPS")),
        frame_options="DENY",
        strict_transport_security=True,
        strict_transport_security_max_age=int(app.config.get("HSTS_MAX_AGE_SECONDS", 31536000)),
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="strict-origin-when-cross-origin",
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
        x_content_type_options=True,
    )
