"""WSGI entry point for ``bench/feeds.py`` only: the production app plus a ceiling route.

The ceiling route answers with the bytes of the RSS feed read once from BENCH_CEILING_FILE, so
it measures what the framework, gunicorn and the client cost for the same response without any
feed logic. It exists only in this module, never in the production app (``wsgi.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Response

from portal import create_app
from portal.feeds.builders import CONTENT_TYPES
from portal.feeds.responses import accepts_gzip
from portal.feeds.serving import gzip_body

app = create_app()
_CEILING_BODY = Path(os.environ["BENCH_CEILING_FILE"]).read_bytes()
_CEILING_GZIP = gzip_body(_CEILING_BODY)


@app.get("/bench/ceiling")
def ceiling():
    """The feed's bytes from memory, gzip-coded when the client accepts it, as the feed is."""
    if accepts_gzip():
        response = Response(_CEILING_GZIP, content_type=CONTENT_TYPES["rss"])
        response.headers["Content-Encoding"] = "gzip"
        return response
    return Response(_CEILING_BODY, content_type=CONTENT_TYPES["rss"])
