"""A bounded schemathesis run over every operation of /api/v1 (issue #17: "The API is declared
once").

Builds a scratch SQLite database with the demo provider, issues API tokens for an engineer and
a customer tenant admin, serves the app on a free local port in a thread, and runs the
schemathesis CLI against the served /api/v1/openapi.json once per token. Fails (exit status 1)
on any 5xx, any response whose status, content type or body the document does not declare.
Bounded: a fixed seed, few examples per operation, a time budget per run.

    .venv/bin/python .ci/api_fuzz.py [--max-examples N] [--seed S]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)
# Who the operations are tried as (emails from portal/demo/data.py).
CALLERS = [("engineer", "engineer@forewarn.example"), ("customer", "admin@tapai.example")]


def build_app(workdir: Path):
    """The app on a fresh scratch database, migrated and seeded; returns (app, tokens)."""
    import flask_migrate

    from portal import create_app
    from portal.auth.models import User
    from portal.auth.services import issue_token
    from portal.clock import get_clock
    from portal.demo.seed import seed_demo
    from portal.extensions import db

    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{workdir / 'fuzz.sqlite3'}",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}},
            "MAIL_SUPPRESS_SEND": True,
            "PROPAGATE_EXCEPTIONS": False,
        }
    )
    tokens = {}
    with app.app_context():
        flask_migrate.upgrade()
        now = get_clock().now()
        seed_demo(password=secrets.token_urlsafe(16), now=now)
        for label, email in CALLERS:
            user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
            tokens[label] = issue_token(user, f"schemathesis {label}", now=now, days=1)[1]
        db.session.commit()
    return app, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--max-time", type=int, default=40, help="seconds per caller")
    args = parser.parse_args()

    st = Path(sys.executable).with_name("st")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="forewarn-fuzz-") as tmp:
        app, tokens = build_app(Path(tmp))
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # schemathesis reports requests
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="fuzz-server", daemon=True)
        thread.start()
        schema_url = f"http://127.0.0.1:{server.server_port}/api/v1/openapi.json"
        try:
            for label, token in tokens.items():
                print(f"== schemathesis as the {label} ({schema_url})", flush=True)
                result = subprocess.run(  # noqa: S603  (our own venv's st, fixed args)
                    [
                        str(st),
                        "run",
                        schema_url,
                        "--header",
                        f"Authorization: Bearer {token}",
                        "--checks",
                        CHECKS,
                        "--max-examples",
                        str(args.max_examples),
                        "--seed",
                        str(args.seed),
                        "--max-time",
                        str(args.max_time),
                        "--workers",
                        "1",
                        "--no-color",
                        "--generation-database",
                        "none",
                        "--request-timeout",
                        "30",
                    ],
                    cwd=tmp,
                    check=False,
                )
                failures += result.returncode != 0
        finally:
            server.shutdown()
            thread.join(timeout=10)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
