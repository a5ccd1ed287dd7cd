"""The HTTP side of a feed: validators, 304s, caching headers, content types, receipts.

A private feed's request costs one read when it ends in 304 or serves the stored body (token,
version, last receipt and body in one statement, outside any transaction), plus a write at most
once a minute per token and format for the receipt; a public feed's costs one primary-key read
and, for a 200, one for the body. Bodies are rebuilt only when the content changed
(``portal.feeds.serving``).

A HEAD is answered with the headers a GET would get, but it is not a fetch: the reader received
no content, so it writes no receipt and no ledger entry (DESIGN.md "Feeds").
"""

from __future__ import annotations

import datetime as dt
import functools
from email.utils import formataddr, parseaddr

from flask import Response, current_app, request
from werkzeug.http import http_date

from portal.clock import now
from portal.extensions import db
from portal.feeds import builders, versions
from portal.feeds.content import Scope, tenant_title
from portal.feeds.receipts import record_fetch
from portal.feeds.serving import (
    FeedOptions,
    StoredBody,
    feed_body,
    feed_state,
    is_not_modified,
)
from portal.feeds.tokens import ActiveToken, token_for_secret

# A private feed may be kept by the reader but must be revalidated on every use, and never
# stored by a shared cache; the URL's secret stays out of referrers and search engines.
PRIVATE_HEADERS = {
    "Cache-Control": "private, no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def private_feed_response(secret: str, fmt: str) -> Response | None:
    """Answer a request for a tenant's private feed; None when the secret opens nothing.

    The token, the feed's version, the token's last receipt and — when the client holds no
    validators, so a 200 is certain — the stored body all come in one statement.
    """
    conditional = bool(request.if_none_match) or "If-Modified-Since" in request.headers
    token = token_for_secret(secret, with_body=None if conditional else fmt)
    if token is None:
        return None
    return feed_response(
        Scope("tenant", token.tenant_id, tenant_title(token.tenant_name)), fmt, token=token
    )


def accepts_gzip() -> bool:
    """Whether the request accepts the gzip content-coding (RFC 9110 §12.5.3: a coding named
    with q > 0, or "*" with q > 0 and gzip not refused)."""
    header = request.headers.get("Accept-Encoding")
    if not header or ("gzip" not in header.lower() and "*" not in header):
        return False  # e.g. "identity": gzip is neither named nor covered by "*"
    return request.accept_encodings.quality("gzip") > 0


def feed_options(config) -> FeedOptions:
    """The feeds' options from the configuration: the base URL, the author (the sender of the
    notices, ``MAIL_DEFAULT_SENDER``) and the calendars' refresh hint."""
    sender = config.get("MAIL_DEFAULT_SENDER") or ""
    if isinstance(sender, tuple | list):  # Flask-Mail also takes (name, address)
        sender = formataddr((str(sender[0]), str(sender[1])))
    return _options(config["BASE_URL"], str(sender), int(config["FEED_CALENDAR_REFRESH_SECONDS"]))


@functools.lru_cache(maxsize=8)
def _options(base_url: str, sender: str, refresh_seconds: int) -> FeedOptions:
    """The options of these settings, made once per value (this runs on every feed poll)."""
    name, email = parseaddr(sender)  # "Forewarn <notices@…>"
    return FeedOptions(base_url, (name or "Forewarn", email), dt.timedelta(seconds=refresh_seconds))


def feed_response(
    scope: Scope, fmt: str, *, token: ActiveToken | None = None, self_url: str | None = None
) -> Response:
    """Answer one feed request: 304 when the client's validators still hold, else the body.

    With a tenant ``token`` a GET is recorded (and the transaction committed): a 200 as a
    receipt of exactly the revisions its body shows, a 304 only as a revalidation of content
    this token already received in this format (``record_fetch``); a HEAD is not a fetch and
    records nothing.
    """
    config = current_app.config
    limit = int(config["FEED_MAX_ENTRIES"])
    options = feed_options(config)
    when = now()
    known = (
        versions.from_row(token.feed_version, token.feed_changed_at, token.feed_last_modified_epoch)
        if token is not None
        else None
    )
    state = feed_state(scope, fmt, limit, options, known=known)
    not_modified = is_not_modified(
        state, request.if_none_match, request.headers.get("If-Modified-Since"), when
    )
    wrote = False
    gzipped = accepts_gzip()
    # Every header goes in with the response: one list, where setting them one by one would
    # scan the headers already there each time (this runs on every feed poll).
    headers: list[tuple[str, str]] = []
    delivered: str | None = None  # the revisions the response carries: none in a 304
    if not_modified:
        status, body = 304, b""
    else:
        stored = (
            StoredBody(token.body_etag, token.body, token.body_revisions)
            if token is not None and token.body
            else None
        )
        body, wrote, delivered = feed_body(
            state,
            limit=limit,
            options=options,
            self_url=self_url,
            now=when,
            gzipped=gzipped,
            stored=stored,
        )
        status = 200
        headers.append(("Content-Type", builders.CONTENT_TYPES[fmt]))
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
    if token is not None and request.method != "HEAD":
        touch_every = dt.timedelta(seconds=int(config["FEED_RECEIPT_TOUCH_SECONDS"]))
        wrote |= record_fetch(
            token,
            content_key=state.fingerprint.digest,
            fmt=fmt,
            user_agent=request.headers.get("User-Agent"),
            delivered=delivered,
            now=when,
            touch_every=touch_every,
        )
    if token is not None:
        headers.extend(PRIVATE_HEADERS.items())
    else:
        max_age = int(config["FEED_PUBLIC_MAX_AGE_SECONDS"])
        headers.append(("Cache-Control", f"public, max-age={max_age}"))
    if wrote:
        db.session.commit()
    # The gzip-coded body is another representation of the same content: the same opaque tag,
    # weak (RFC 9110 §8.8.1, §8.8.3), so that If-None-Match (weak comparison) matches either.
    headers.append(("ETag", f"W/{state.etag}" if gzipped else state.etag))
    headers.append(("Vary", "Accept-Encoding"))
    headers.append(("Last-Modified", _http_date(state.last_modified_header(when))))
    return Response(body, status=status, headers=headers)


@functools.lru_cache(maxsize=256)
def _http_date(at: dt.datetime) -> str:
    """``http_date`` of a Last-Modified: the same few values on every poll of a feed (whole
    seconds of its last change), formatted once each."""
    return http_date(at)
