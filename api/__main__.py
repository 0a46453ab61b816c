"""`python -m api`: serve the HTTP API with settings from the environment."""

from __future__ import annotations

import asyncio

from api.serve import serve
from api.settings import load_api_settings
from observability.logs import configure_logging
from observability.tracing import configure_tracing


def main() -> None:
    settings = load_api_settings()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings, "carepath-api")
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
