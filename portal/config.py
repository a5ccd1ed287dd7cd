"""Configuration defaults.

Layers, later ones winning: these defaults; ``instance/config.py``; ``PORTAL_*`` environment
variables (``PORTAL_DATABASE_URL``, ``PORTAL_MAIL_SERVER`` …, values parsed as JSON where they
can be); the mapping given to ``create_app`` by tests. See the configuration table in README.md.
"""

from __future__ import annotations

from pathlib import Path


class ConfigurationError(RuntimeError):
    """A setting production cannot run without is missing or unsafe (also importable as
    ``portal.ConfigurationError``)."""


# Values that must never reach production.
INSECURE_SECRET_KEYS = {"", "dev", "change-me", "secret", "test"}

# Secrets that may come from a file instead (``PORTAL_<NAME>_FILE``, e.g. a systemd credential
# or a file only the service user can read), so they stay out of the environment and unit files.
SECRET_FILE_SETTINGS = ("SECRET_KEY", "METRICS_TOKEN", "MAIL_PASSWORD")


def read_secret_files(config: dict) -> None:
    """For each ``<NAME>_FILE`` setting in ``SECRET_FILE_SETTINGS``, set ``<NAME>`` to the file's
    content (stripped). Raises ``portal.ConfigurationError`` naming the setting and the path
    when the file is missing, unreadable or empty."""
    for name in SECRET_FILE_SETTINGS:
        path = config.get(f"{name}_FILE")
        if not path:
            continue
        try:
            value = Path(str(path)).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ConfigurationError(
                f"PORTAL_{name}_FILE={path} cannot be read ({reason})"
            ) from None
        if not value:
            raise ConfigurationError(f"PORTAL_{name}_FILE={path} is empty")
        config[name] = value


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
    # "Keep me signed in" (issue 17): at most 30 days, never sent on cross-site requests.
    REMEMBER_COOKIE_DURATION = 30 * 24 * 3600
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None  # tokens live as long as the session

    # Hardening (issue 17, portal/security.py; docs/security.md).
    MAX_CONTENT_LENGTH = 10 * 1024 * 1024  # any request body; larger is a 413
    TRUSTED_PROXY_COUNT = 0  # reverse proxies in front (X-Forwarded-For/-Proto/-Host trusted)
    FORCE_HTTPS = False  # redirect http:// to https:// (usually the proxy's job)
    HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600  # sent on HTTPS requests only

    # Sign-in limits (Flask-Limiter; docs/security.md). Only refused attempts count: per client
    # address (the real one behind TRUSTED_PROXY_COUNT proxies) and per account named. Several
    # processes share counts only through Redis: RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379".
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True  # X-RateLimit-* on limited views, Retry-After on a 429
    LOGIN_RATE_LIMIT = "10 per minute"
    LOGIN_ACCOUNT_RATE_LIMIT = "10 per 15 minutes"

    # Mail (Flask-Mail). Production points these at an SMTP relay.
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 8025
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "Forewarn <notices@forewarn.example>"

    # The provider's brand on every notice (issue 15, portal/branding.py): its name (default:
    # the display name of MAIL_DEFAULT_SENDER), a logo (http(s) URL or a path on BASE_URL,
    # shown 32 px high) and the accent colour of headings and buttons (#rrggbb).
    PROVIDER_NAME: str | None = None
    PROVIDER_LOGO_URL: str | None = None
    PROVIDER_ACCENT_COLOUR = "#1f5fbf"
    MAIL_TIMEOUT_SECONDS = 30

    # Notice window (DESIGN.md "The notice window, exactly").
    DISPATCH_MARGIN_SECONDS = 3600

    # Changes feature: limits on tenants' own blackout windows (admin-set).
    TENANT_BLACKOUT_MAX_HOURS = 7 * 24
    TENANT_BLACKOUT_MAX_PER_YEAR = 4

    # API tokens: lifetime in days (0 = no expiry).
    API_TOKEN_DEFAULT_DAYS = 365
    # Usable (not revoked, not expired) tokens at once: API tokens per user, feed tokens per
    # tenant (issue 17); the token pages show TOKEN_PAGE_SIZE rows a page.
    API_TOKEN_MAX_PER_USER = 20
    FEED_TOKEN_MAX_PER_TENANT = 20
    TOKEN_PAGE_SIZE = 20

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

    # Ledger proof (issue 13, portal/ledger): the checkpoint signing key lives in a file outside
    # the database (default <instance>/ledger-signing.key, `forewarn ledger keygen`); the log's
    # origin defaults to "<BASE_URL host/path>/ledger"; checkpoints at most every N seconds; a
    # copy of the latest in LEDGER_WITNESS_FILE (default <instance>/ledger-checkpoint.txt).
    LEDGER_SIGNING_KEY_FILE: str | None = None
    LEDGER_ORIGIN: str | None = None
    LEDGER_CHECKPOINT_INTERVAL_SECONDS = 10.0
    LEDGER_WITNESS_FILE: str | None = None
    LEDGER_PUBLIC_KEY: str | None = None  # for /ledger/public-key when the key file is elsewhere

    # Feeds (issue 5, portal/feeds): entries per feed, and the upstream import's limits.
    FEED_MAX_ENTRIES = 100  # ended changes per feed; changes not ended are never capped
    FEED_CALENDAR_REFRESH_SECONDS = 3600  # iCalendar REFRESH-INTERVAL / X-PUBLISHED-TTL hint
    FEED_PUBLIC_MAX_AGE_SECONDS = 300  # Cache-Control max-age of the public service feeds
    FEED_RECEIPT_TOUCH_SECONDS = 60  # unchanged content re-fetched sooner writes nothing
    FEED_IMPORT_TIMEOUT_SECONDS = 20.0  # whole download of one upstream feed
    FEED_IMPORT_MAX_BYTES = 5 * 1024 * 1024

    # Operations (issue 18, portal/ops): logs, metrics, health, proxies.
    LOG_FORMAT = "text"  # or "json": one JSON object per line on stderr
    LOG_LEVEL = "INFO"
    METRICS_TOKEN: str | None = None  # /metrics answers only with this bearer token; off if unset
    WORKER_HEARTBEAT_SECONDS = 30.0  # a worker probes the relay and writes its heartbeat
    WORKER_SUMMARY_SECONDS = 60.0  # a worker logs one summary line per this interval
    READY_WORKER_MAX_AGE_SECONDS = 90.0  # /readyz: a worker heartbeat must be this recent
    # Networks (CIDR) the upstream import may reach besides public addresses; loopback,
    # private, link-local and metadata addresses are refused unless listed (issue 17).
    FEED_IMPORT_ALLOWED_NETWORKS: list[str] = []
