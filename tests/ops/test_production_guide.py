"""docs/production.md works as written (issue 18 item 4): its blocks marked ```` ```sh test ````
run in bash, in order, on a fresh database, against gunicorn and a delivery worker started
with the ExecStart lines of docs/deploy/*.service and a real SMTP server: create the admin,
import a customer, publish a change through the API, dispatch, scrape health and metrics.

Only two things are replaced: ``/opt/forewarn`` by this checkout and ``127.0.0.1:8000`` by a
free port; ``/etc/forewarn/forewarn.env`` becomes this test's environment. The admin screens'
steps the guide describes in words (a team, a service, an API token) are done through the same
services those screens call.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from portal import create_app, normalise_database_url
from portal.auth.services import find_user_by_email, issue_token
from portal.catalog import services as catalog
from portal.extensions import db, dispose_engines
from tests.notify.conftest import SmtpServer, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "production.md"
DEPLOY = ROOT / "docs" / "deploy"
BLOCK = re.compile(r"^```sh test\n(.*?)^```", re.S | re.M)


def guide_blocks() -> list[str]:
    return BLOCK.findall(GUIDE.read_text())


def unit(name: str, replace: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(ExecStart argv, Environment= values) of a unit file, with ``replace`` applied."""
    body = (DEPLOY / name).read_text()
    for old, new in replace.items():
        body = body.replace(old, new)
    start = re.search(r"^ExecStart=(.+)$", body, re.M).group(1)
    env = {}
    for value in re.findall(r"^Environment=(\S+)$", body, re.M):
        key, _, val = value.partition("=")
        env[key] = val
    return shlex.split(start), env


@pytest.fixture
def fresh_database_url(tmp_path):
    base = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'forewarn.sqlite3'}"
        return
    url = make_url(normalise_database_url(base))
    name = f"forewarn_guide_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_block(block: str, env: dict, cwd: Path, address: str) -> str:
    script = block.replace("127.0.0.1:8000", address)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"guide block failed:\n{script}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def wait_for(url: str, status: int = 200, seconds: float = 60) -> bytes:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local)
                if response.status == status:
                    return response.read()
        except urllib.error.HTTPError as err:  # e.g. /readyz's 503 until the worker beats
            last = err
            err.close()
        except OSError as err:
            last = err
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer {status}: {last}")


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_the_production_guide_works_as_written(tmp_path, fresh_database_url):
    blocks = guide_blocks()
    assert len(blocks) == 4, "the test runs four tested blocks of docs/production.md"
    smtp = SmtpServer()
    smtp.start()
    home, run_dir = tmp_path / "home", tmp_path / "run"
    (run_dir / "metrics").mkdir(parents=True)
    home.mkdir()
    (home / "forewarn-admin-password").write_text("a long admin password\n")
    (tmp_path / "secret-key").write_text(os.urandom(32).hex())
    port = free_port()
    address = f"127.0.0.1:{port}"
    metrics_token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
    env.update(
        HOME=str(home),
        PATH=f"{ROOT / '.venv' / 'bin'}:{env['PATH']}",
        PORTAL_DATABASE_URL=fresh_database_url,
        PORTAL_SECRET_KEY_FILE=str(tmp_path / "secret-key"),
        PORTAL_METRICS_TOKEN=metrics_token,
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        PORTAL_BASE_URL=f"http://{address}",
        PORTAL_MAIL_SERVER="127.0.0.1",
        PORTAL_MAIL_PORT=str(smtp.port),
        PORTAL_SESSION_COOKIE_SECURE="false",
        PORTAL_TRUSTED_PROXY_COUNT="1",
        PORTAL_LOG_FORMAT="json",
        PORTAL_WORKER_INTERVAL_SECONDS="0.5",
        GUNICORN_CMD_ARGS=f"--bind {address} --workers 2",
    )
    replace = {"/opt/forewarn": str(ROOT), "/run/forewarn": str(run_dir)}
    web_argv, web_env = unit("forewarn-web.service", replace)
    worker_argv, worker_env = unit("forewarn-worker@.service", replace)
    env.update(web_env)
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(run_dir / "metrics")
    web = worker = None
    try:
        # 4. The schema and the first admin.
        run_block(blocks[0], env, tmp_path, address)
        assert not (home / "forewarn-admin-password").exists()

        # What the guide asks the admin to do in the admin screens.
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": fresh_database_url, "SECRET_KEY": os.urandom(32).hex()}
        )
        with app.app_context():
            now = dt.datetime.now(dt.UTC)
            admin = find_user_by_email("ops@example.com")
            assert admin is not None and admin.is_admin
            team = catalog.save_team(None, slug="status", name="Status", actor=admin, now=now)
            catalog.add_member(team, admin, is_approver=False, actor=admin, now=now)
            catalog.save_service(
                None,
                slug="status-api",
                name="Status API",
                description="",
                team=team,
                actor=admin,
                now=now,
            )
            _token, secret = issue_token(admin, "guide", now=now, days=1)
            db.session.commit()
            dispose_engines()
        env["FOREWARN_TOKEN"] = secret

        # 5. The web service, started as its unit starts it, from another directory.
        web = subprocess.Popen(web_argv, cwd=tmp_path, env=env)
        wait_for(f"http://{address}/healthz")

        # 7. Import, publish, dispatch.
        published = run_block(blocks[1], env, tmp_path, address)
        assert published.strip().endswith("scheduled")
        dispatched = run_block(blocks[2], env, tmp_path, address)
        assert "1 sent, 0 to retry, 0 failed" in dispatched
        assert [m["To"] for m in smtp.sink.received] == ["ops@acme.example"]

        # A delivery worker, as its unit starts it; /readyz waits for its heartbeat.
        worker = subprocess.Popen(worker_argv, cwd=tmp_path, env={**env, **worker_env})
        wait_for(f"http://{address}/readyz")
        checked = run_block(blocks[3], env, tmp_path, address)
        assert '{"status":"ok"}' in checked
        assert '"status":"ready"' in checked
        metrics = dict(
            line.rsplit(" ", 1) for line in checked.splitlines() if line[:9] == "forewarn_"
        )
        assert float(metrics["forewarn_notices_due"]) == 0
        assert float(metrics['forewarn_deliveries_total{outcome="sent"}']) == 1  # the dispatch run
        assert float(metrics["forewarn_workers_alive"]) == 1
        assert float(metrics["forewarn_mail_relay_up"]) == 1
        assert stop(worker) == 0
        worker = None
    finally:
        for process in (worker, web):
            if process is not None and process.poll() is None:
                stop(process)
        smtp.stop()
