"""Bootstrap (issue 18 item 1): `forewarn users create-admin`; `forewarn --help` lists every
command before any setting exists; a command that needs a setting says which, once, and exits
2; beside a demo, commands use its database and key; a missing key file is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from portal.auth.models import User
from portal.cli import main
from portal.extensions import db
from portal.ledger.models import LedgerEntry

COMMANDS = ["db", "demo", "dispatch", "feeds", "import", "ledger", "users", "worker"]
PASSWORD = "correct horse battery staple"


def forewarn(tmp_path, *args, stdin: str | None = None, **env):
    """Run the `forewarn` entry point in-process with only these PORTAL_* settings."""
    environ = {k: None for k in os.environ if k.startswith(("PORTAL_", "FLASK_"))}
    environ.update(PORTAL_INSTANCE_PATH=str(tmp_path / "instance"), **env)
    done = CliRunner().invoke(main, list(args), input=stdin, env=environ)
    os.environ.pop("FLASK_RUN_FROM_CLI", None)  # see tests/conftest.py's app fixture
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return SimpleNamespace(returncode=done.exit_code, stdout=done.stdout, stderr=done.stderr)


def test_help_lists_every_command_before_any_setting_exists(tmp_path):
    done = forewarn(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line}
    assert set(COMMANDS) <= listed
    assert done.stderr == ""


def test_a_command_that_needs_a_setting_names_it_once_and_exits_2(tmp_path):
    done = forewarn(tmp_path, "ledger", "verify")
    assert done.returncode == 2
    assert done.stderr.count("PORTAL_SECRET_KEY") == 1
    assert "ledger verify needs a setting" in done.stderr
    assert "Traceback" not in done.stderr
    # Its own help still works.
    helped = forewarn(tmp_path, "ledger", "verify", "--help")
    assert helped.returncode == 0 and "hash chain" in helped.stdout


def test_a_missing_key_file_is_named_with_its_path(tmp_path):
    missing = tmp_path / "secrets" / "forewarn-key"
    done = forewarn(tmp_path, "dispatch", PORTAL_SECRET_KEY_FILE=str(missing))
    assert done.returncode == 2
    assert f"PORTAL_SECRET_KEY_FILE={missing} cannot be read (No such file or directory)" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_key_file_provides_the_secret_key(tmp_path):
    key = tmp_path / "key"
    key.write_text(os.urandom(32).hex() + "\n")
    done = forewarn(tmp_path, "db", "current", PORTAL_SECRET_KEY_FILE=str(key))
    assert done.returncode == 0, done.stderr
    assert "needs a setting" not in done.stderr


def test_commands_use_the_demos_database_and_key_beside_a_demo(tmp_path):
    # What `forewarn demo` leaves in the instance folder: its key and its SQLite database.
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "demo-secret-key").write_text(os.urandom(32).hex())
    assert forewarn(tmp_path, "db", "upgrade").returncode == 0
    made = forewarn(
        tmp_path,
        "users",
        "create-admin",
        "a@example.com",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    done = forewarn(tmp_path, "ledger", "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: 1 entries")
    database = tmp_path / "instance" / "forewarn.sqlite3"
    assert f"using the demo's database (sqlite:///{database}) and key" in done.stderr
    assert done.stderr.count("using the demo's database") == 1


# users create-admin ---------------------------------------------------------------------------
def test_create_admin_reads_the_password_from_stdin(app):
    done = app.test_cli_runner().invoke(
        args=["users", "create-admin", "Root@Example.com", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert done.exit_code == 0, done.output
    user = db.session.scalars(select(User)).one()
    assert (user.email, user.is_admin, user.is_staff) == ("root@example.com", True, True)
    assert user.check_password(PASSWORD)
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "user.created"))
    assert entry.one().actor_label == "cli"


def test_create_admin_prompts_twice_for_the_password(app):
    done = app.test_cli_runner().invoke(
        args=["users", "create-admin", "root@example.com", "--name", "Root"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output  # hidden input
    assert db.session.scalars(select(User)).one().name == "Root"


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-address", PASSWORD, "is not a valid email address"),
        ("root@example.com", "short", "a password needs at least 12 characters"),
    ],
)
def test_create_admin_refuses_bad_input_and_writes_nothing(app, email, password, message):
    done = app.test_cli_runner().invoke(
        args=["users", "create-admin", email, "--password-stdin"], input=password + "\n"
    )
    assert done.exit_code == 1
    assert message in done.output and "nothing was written" in done.output
    assert db.session.scalars(select(User)).first() is None


def test_create_admin_refuses_an_email_in_use(app, admin):
    done = app.test_cli_runner().invoke(
        args=["users", "create-admin", admin.email, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert done.exit_code == 1
    assert "already exists" in done.output


def test_wsgi_stops_with_one_line_when_the_key_file_is_missing(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
    environ.update(
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        PORTAL_SECRET_KEY_FILE=str(tmp_path / "no-such-key"),
    )
    done = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=Path(__file__).resolve().parents[2],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3  # gunicorn's "worker failed to boot": no restart loop
    assert done.stderr == (
        f"forewarn: cannot start: PORTAL_SECRET_KEY_FILE={tmp_path / 'no-such-key'} cannot be "
        "read (No such file or directory)\n"
    )
