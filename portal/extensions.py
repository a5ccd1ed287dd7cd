"""Flask extensions, created unbound here and bound to the app in ``create_app``."""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, cast

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import CursorResult, Engine, Executable, MetaData, Table
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep migrations deterministic and make batch (SQLite) alterations possible.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model (plain base: MappedAsDataclass breaks on SA 2.1)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# Every model subclasses ``Model``. At run time it is ``db.Model``, the class Flask-SQLAlchemy
# builds from ``Base`` (bind key, ``__fsa__``, Base's registry and naming-convention metadata).
# A type checker cannot follow an attribute built at run time as a base class (mypy #8603), so
# it is shown the declarative ``Base`` it is made from: ``Mapped[...]`` columns, relationships
# and ``Model(**columns)`` then check the same as with plain SQLAlchemy 2.
if TYPE_CHECKING:

    class Model(Base):
        """What type checkers see of ``db.Model``: an abstract subclass of ``Base``."""

        __abstract__ = True
        __table__: ClassVar[Table]  # every model here maps one table (``__tablename__``)

else:
    Model = db.Model

migrate = Migrate()
login_manager = LoginManager()
mail = Mail()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def rate_limited(limit, **kwargs):
    """``limiter.limit`` for one view, marked so that the limiter checks its requests.

    There are no default or application-wide limits, so requests to every other view skip the
    limiter's per-request bookkeeping (``_not_rate_limited``) instead of paying for it on every
    page and every feed fetch.
    """
    decorate = limiter.limit(limit, **kwargs)

    def decorator(view):
        limited = decorate(view)
        limited.rate_limited = True
        return limited

    return decorator


@limiter.request_filter
def _not_rate_limited() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "rate_limited", False)


def init_limiter(app: Flask) -> None:
    """``limiter.init_app``, without the check it hooks before every request.

    Forewarn has no default, application-wide, blueprint or meta limits: every limit is a
    ``rate_limited`` view's, and flask-limiter's wrapper of that view checks it when the view
    is called. The before-request hook would find nothing to check, yet compute each request's
    blueprint exemptions first (flask-limiter 4.1: ~20 µs on every page and feed poll).
    """
    limiter.init_app(app)
    # flask-limiter keeps no public view of these; pinned by tests/security/test_login_limits.py.
    manager = limiter.limit_manager
    if (
        manager._default_limits
        or manager._application_limits
        or manager._blueprint_limits
        or limiter._meta_limits
    ):
        return  # limits that only the hook checks: keep it
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


# Every engine an app made, so that a forked child can let go of its parent's connections.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def init_db(app: Flask) -> None:
    """Bind ``db`` to ``app`` (which creates its engines: the main one and, when configured,
    the ``portal.reads`` one), and keep them for ``_forget_inherited_connections``."""
    db.init_app(app)
    with app.app_context():
        _ENGINES.update(db.engines.values())


def _forget_inherited_connections() -> None:
    """In a forked child, drop the pooled connections inherited from the parent without
    closing them (SQLAlchemy, "Using Connection Pools with Multiprocessing or os.fork()":
    ``Engine.dispose(close=False)``): they are the parent's sockets, and a child reading on
    one would take the parent's answers (gunicorn ``--preload``, a script that forks). The
    child's pools open connections of their own when first used."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def dispose_engines() -> None:
    """Close the pooled connections of every engine of the current app (the main one and the
    ``portal.reads`` one) when it is done with its database, or is about to remove it. A
    forked child needs no call: it drops what it inherited (``_forget_inherited_connections``)."""
    for engine in db.engines.values():
        engine.dispose()


def rows_affected(statement: Executable) -> int:
    """Execute an INSERT, UPDATE or DELETE (without RETURNING) in ``db.session``; the number of
    rows it wrote. The session hands back a ``CursorResult`` for these but types it as
    ``Result``, which has no ``rowcount`` (SQLAlchemy 2.0.44 changelog: cast it)."""
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount
