"""Operating Forewarn: logs, metrics, health checks and the proxy settings (issue 18).

``init_app`` is the factory's one ``register_ops`` step: it checks the multiprocess metrics
folder, checks ``TRUSTED_PROXY_COUNT`` (``portal.security`` installs werkzeug's ``ProxyFix``
for it), and times every request. The blueprint (``/readyz``, ``/metrics``) is listed
in ``portal.blueprints``.
"""

from __future__ import annotations

import os

from flask import Flask

from portal.config import ConfigurationError


def init_app(app: Flask) -> None:
    """Raises ``portal.ConfigurationError`` naming the setting when PROMETHEUS_MULTIPROC_DIR
    is not a writable folder, TRUSTED_PROXY_COUNT is not a small whole number or LOG_FORMAT is not
    text or json."""
    # Imported here, not at the top: this __init__ runs whenever any portal.ops module loads
    # (portal.ops.models with every model, on the models floor), and the metrics module reads
    # notify's claim queries from the floor above (docs/architecture.md).
    from portal.ops import metrics

    metrics.init_app(app)
    if app.config.get("CLI_LISTING_ONLY"):
        return  # `forewarn --help` without settings (portal.cli): the commands say what is wrong
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        raise ConfigurationError(
            f"PROMETHEUS_MULTIPROC_DIR={folder} is not a writable folder; create it (empty) "
            "before starting the web and worker processes, or unset it"
        )
    proxies = app.config.get("TRUSTED_PROXY_COUNT", 0)
    if not isinstance(proxies, int) or isinstance(proxies, bool) or not 0 <= proxies <= 5:
        raise ConfigurationError(
            f"PORTAL_TRUSTED_PROXY_COUNT must be the number of reverse proxies in front (0-5), "
            f"not {proxies!r}"
        )
    if str(app.config.get("LOG_FORMAT") or "text").lower() not in ("text", "json"):
        raise ConfigurationError(
            f"PORTAL_LOG_FORMAT must be 'text' or 'json', not {app.config['LOG_FORMAT']!r}"
        )
    # ProxyFix itself is installed once, by portal.security.register_security.
