"""Operations tests reuse the delivery tests' real SMTP server and published change."""

import pytest

from tests.notify.conftest import (  # noqa: F401  (fixtures)
    dispatch,
    published,
    sink,
    smtp_server,
    world,
)


@pytest.fixture
def app_config(app_config, smtp_server):  # noqa: F811  (the imported fixture)
    """The delivery tests' settings, with a patient SMTP timeout: these tests count outcomes,
    and a loaded machine must not turn a slow reply into a retry."""
    return {
        **app_config,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT_SECONDS": 15,
        "DELIVERY_RETRY_BASE_SECONDS": 60,
        "DELIVERY_MAX_ATTEMPTS": 4,
    }
