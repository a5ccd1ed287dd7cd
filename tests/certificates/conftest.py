"""The certificate tests share the desk's world (a published change, its tenants and people)."""

from tests.desk.conftest import admin_user, cheap_password_hashing, world  # noqa: F401
