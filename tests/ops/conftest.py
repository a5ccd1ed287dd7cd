"""Operations tests reuse the delivery tests' real SMTP server and published change."""

from tests.notify.conftest import (  # noqa: F401  (fixtures)
    app_config,
    dispatch,
    published,
    sink,
    smtp_server,
    world,
)
