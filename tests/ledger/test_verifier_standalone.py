"""`forewarn-verify` needs nothing of the portal: its package imports only the standard
library and `cryptography` (a customer runs it without the app, its config or a database)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_verifier_imports_only_stdlib_and_cryptography():
    code = (
        "import sys; before = set(sys.modules); import forewarn_verify.cli; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'forewarn_verify', 'cryptography',"
        " '_cffi_backend', '_openssl'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_python_m_runs_it_and_bad_arguments_get_one_line(tmp_path):
    missing = tmp_path / "nope.json"
    out = subprocess.run(
        [sys.executable, "-m", "forewarn_verify", str(missing), "--key", "x+00000000+AA=="],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
