"""The WSGI entry point for production: ``gunicorn --workers 4 --bind 0.0.0.0:8000 wsgi:app``.

Configuration comes from the instance folder and ``PORTAL_*`` environment variables (see the
README); without a real ``PORTAL_SECRET_KEY`` the app refuses to start.
"""

from portal import create_app

app = create_app()
