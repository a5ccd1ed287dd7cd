"""Imports every feature's models so that the metadata (and Alembic) sees all tables."""

from portal import settings_store  # noqa: F401
from portal.acks import models as acks_models  # noqa: F401
from portal.auth import models as auth_models  # noqa: F401
from portal.catalog import models as catalog_models  # noqa: F401
from portal.changes import models as changes_models  # noqa: F401
from portal.feeds import models as feeds_models  # noqa: F401
from portal.ledger import models as ledger_models  # noqa: F401
from portal.mailbox import models as mailbox_models  # noqa: F401
from portal.notify import models as notify_models  # noqa: F401
from portal.ops import models as ops_models  # noqa: F401
from portal.tenants import models as tenants_models  # noqa: F401
