"""`wsgi:app` is what gunicorn serves in production: it starts with a real secret key and
refuses to start without one."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_wsgi(tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    environ.update(PORTAL_INSTANCE_PATH=str(tmp_path / "instance"), **env)
    return subprocess.run(
        [sys.executable, "-c", "import wsgi; print(wsgi.app.name)"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wsgi_app_starts_with_a_real_secret_key(tmp_path):
    done = _import_wsgi(tmp_path, PORTAL_SECRET_KEY="k" * 8 + os.urandom(24).hex())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "portal"


def test_wsgi_app_refuses_to_start_without_a_secret_key(tmp_path):
    done = _import_wsgi(tmp_path)
    assert done.returncode != 0
    assert "PORTAL_SECRET_KEY" in done.stderr
