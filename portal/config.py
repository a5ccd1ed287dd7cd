"""Configuration defaults.

Layers, later ones winning: these defaults; ``instance/config.py``; ``PORTAL_*`` environment
variables (``PORTAL_DATABASE_URL``, ``PORTAL_MAIL_SERVER`` …, values parsed as JSON where they
can be); the mapping given to ``create_app`` by tests. See the configuration table in README.md.
"""

from __future__ import annotations

# Values that must never reach production.
INSECURE_SECRET_KEYS = {"", "dev", "change-me", "secret", "test"}


class Defaults:
    # Database: SQLite in the instance folder unless DATABASE_URL is set.
    DATABASE_URL: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    SECRET_KEY: str | None = None
    DEMO = False
    # Public base URL used in emails and feeds (no trailing slash).
    BASE_URL = "http://127.0.0.1:5000"
    DEFAULT_TIME_ZONE = "UTC"

    # Sessions and cookies.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session

    # Login rate limit (Flask-Limiter); use a Redis URL when running several workers.
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_LIMIT = "10 per minute"

    # Mail (Flask-Mail). Production points these at an SMTP relay.
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 8025
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "Forewarn <notices@forewarn.example>"
    MAIL_TIMEOUT_SECONDS = 30

    # Notice window (DESIGN.md "The notice window, exactly").
    DISPATCH_MARGIN_SECONDS = 3600

    # Changes feature: limits on tenants' own blackout windows (admin-set).
    TENANT_BLACKOUT_MAX_HOURS = 7 * 24
    TENANT_BLACKOUT_MAX_PER_YEAR = 4

    # API tokens: lifetime in days (0 = no expiry).
    API_TOKEN_DEFAULT_DAYS = 365

    # Pagination.
    PAGE_SIZE = 50

    # Delivery (issue 4, portal/notify): outbox dispatch, retries, reminders.
    DISPATCH_BATCH_SIZE = 200  # rows claimed and sent over one SMTP connection
    # A claim's lease; renewed every third of it while the batch is in hand, so a dead
    # worker's rows are taken over within it plus WORKER_INTERVAL_SECONDS (< 60 s).
    DISPATCH_LEASE_SECONDS = 45
    # Temporary failures retry for this long after the row was queued (a mail queue's
    # lifetime), then fail; DELIVERY_MAX_ATTEMPTS (None = no count limit) can bound it too.
    DELIVERY_RETRY_SECONDS = 24 * 3600
    DELIVERY_MAX_ATTEMPTS: int | None = None
    DELIVERY_RETRY_BASE_SECONDS = 60  # first retry delay; doubles each attempt, plus jitter
    DELIVERY_RETRY_MAX_SECONDS = 6 * 3600
    REMINDER_OFFSETS_HOURS = [72, 24]  # reminders before the start; escalation at the last
    WORKER_INTERVAL_SECONDS = 5.0
    MAIL_MESSAGE_ID_DOMAIN = "forewarn"

    # Demo and mailbox feature (`forewarn demo`): the embedded SMTP sink and the one password
    # every demo login shares (the demo serves 127.0.0.1 only, by default).
    DEMO_SMTP_HOST = "127.0.0.1"
    DEMO_SMTP_PORT = 8025
    DEMO_PASSWORD = "forewarn-demo"  # noqa: S105 (the demo serves 127.0.0.1 with made-up users)

    # Feeds (issue 5, portal/feeds): entries per feed, and the upstream import's limits.
    FEED_MAX_ENTRIES = 100
    FEED_PUBLIC_MAX_AGE_SECONDS = 300  # Cache-Control max-age of the public service feeds
    FEED_RECEIPT_TOUCH_SECONDS = 60  # unchanged content re-fetched sooner writes nothing
    FEED_IMPORT_TIMEOUT_SECONDS = 20.0  # whole download of one upstream feed
    FEED_IMPORT_MAX_BYTES = 5 * 1024 * 1024
