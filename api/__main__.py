"""`python -m api`: serve the HTTP API with settings from the environment."""

from __future__ import annotations

import asyncio
import logging

from api.serve import serve
from api.settings import load_api_settings


def main() -> None:
    settings = load_api_settings()
    logging.basicConfig(level=settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
