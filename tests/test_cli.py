"""The `forewarn` command without production settings: a clear one-line error, no traceback;
`forewarn demo` stays available because it makes its own settings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _forewarn(tmp_path, *args):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
    environ["PORTAL_INSTANCE_PATH"] = str(tmp_path / "instance")
    code = "from portal.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_command_without_a_secret_key_says_what_is_missing(tmp_path):
    done = _forewarn(tmp_path, "dispatch")
    assert done.returncode != 0
    assert "PORTAL_SECRET_KEY is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_without_a_secret_key_still_lists_the_demo(tmp_path):
    done = _forewarn(tmp_path, "--help")
    assert done.returncode == 0
    assert "demo" in done.stdout
    assert "Traceback" not in done.stderr
