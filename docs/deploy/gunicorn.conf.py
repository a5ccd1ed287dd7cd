"""gunicorn settings for Forewarn's web processes (docs/production.md).

Used by forewarn-web.service: ``gunicorn --config docs/deploy/gunicorn.conf.py --chdir
/opt/forewarn wsgi:app``. Command-line options and GUNICORN_CMD_ARGS override these.
"""

import os

# Behind the reverse proxy on the same host; the proxy terminates TLS.
bind = os.environ.get("FOREWARN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FOREWARN_WEB_WORKERS", "4"))
threads = 1
timeout = 30
graceful_timeout = 30
# Restart workers now and then (memory); staggered so they never all restart at once.
max_requests = 5000
max_requests_jitter = 500
# Logs to stderr, i.e. the journal. The app's own lines follow PORTAL_LOG_FORMAT.
accesslog = "-"
errorlog = "-"
# gunicorn 27 opens a control socket in ~/.gunicorn by default; a service user needs none.
control_socket_disable = True


def child_exit(server, worker):
    """prometheus_client multiprocess mode: drop the live gauges of a worker that exited (its
    counters stay, summed into the totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
