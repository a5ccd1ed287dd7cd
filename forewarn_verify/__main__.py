"""``python -m forewarn_verify CERT.json --key KEY [--checkpoint FILE …]``."""

import sys

from forewarn_verify.cli import main

sys.exit(main())
