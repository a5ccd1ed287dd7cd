"""The HTTP side of a feed: validators, 304s, caching headers, content types, receipts.

A feed request costs one aggregate query when it ends in 304 (plus the token lookup and the
receipt bump for private feeds); a 200 reads the stored body and rebuilds it only when the
content changed (``portal.feeds.serving``).
"""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app, request

from portal.clock import now
from portal.extensions import db
from portal.feeds import builders
from portal.feeds.content import Scope
from portal.feeds.receipts import record_fetch
from portal.feeds.serving import current_revisions, feed_body, feed_state, is_not_modified
from portal.feeds.tokens import ActiveToken

# A private feed may be kept by the reader but must be revalidated on every use, and never
# stored by a shared cache; the URL's secret stays out of referrers and search engines.
PRIVATE_HEADERS = {
    "Cache-Control": "private, no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def feed_response(scope: Scope, fmt: str, *, token: ActiveToken | None = None,
                  self_url: str | None = None) -> Response:
    """Answer one feed request: 304 when the client's validators still hold, else the body.

    With a tenant ``token`` the fetch is recorded as a receipt (and the transaction committed).
    """
    config = current_app.config
    limit = int(config["FEED_MAX_ENTRIES"])
    base_url = config["BASE_URL"]
    when = now()
    known = (token.feed_version or 0, token.feed_changed_at) if token is not None else None
    state = feed_state(scope, fmt, limit, base_url, known=known)
    not_modified = is_not_modified(state, request.if_none_match,
                                   request.headers.get("If-Modified-Since"))
    if not_modified:
        response = Response(status=304)
    else:
        body = feed_body(state, limit=limit, base_url=base_url, self_url=self_url, now=when)
        response = Response(body, status=200, content_type=builders.CONTENT_TYPES[fmt])
    wrote = not not_modified  # a 200 may have stored a freshly built body
    if token is not None:
        wrote |= record_fetch(token, content_key=state.fingerprint.digest, fmt=fmt,
                     user_agent=request.headers.get("User-Agent"),
                     revisions=lambda: current_revisions(scope, limit), now=when,
                     touch_every=dt.timedelta(seconds=int(config["FEED_RECEIPT_TOUCH_SECONDS"])))
        response.headers.update(PRIVATE_HEADERS)
    else:
        max_age = int(config["FEED_PUBLIC_MAX_AGE_SECONDS"])
        response.headers["Cache-Control"] = f"public, max-age={max_age}"
    if wrote:
        db.session.commit()
    response.headers["ETag"] = state.etag
    response.last_modified = state.last_modified
    return response
