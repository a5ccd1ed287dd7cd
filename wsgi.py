"""The WSGI entry point for production: ``gunicorn --chdir /opt/forewarn wsgi:app`` (or, from
any directory once the package is installed, ``gunicorn 'portal:create_app()'``); see
docs/production.md and docs/deploy/.

Configuration comes from the instance folder and ``PORTAL_*`` environment variables (see the
README). A missing or unsafe setting (no real ``PORTAL_SECRET_KEY``, an unreadable
``PORTAL_*_FILE`` …) stops the start with one line naming it, not a traceback, and exit
status 3, which gunicorn's master takes as "worker failed to boot" and stops rather than
restarting workers in a loop.
"""

import sys

from portal import ConfigurationError, create_app

try:
    app = create_app()
except ConfigurationError as err:
    sys.stderr.write(f"forewarn: cannot start: {err}\n")
    sys.exit(3)
