"""Log lines for every carepath process: text for a terminal, JSON for a log pipeline.

Each line carries the request ID of the HTTP request it belongs to (`REQUEST_ID`, set by
api/metrics.py), or none. Log messages name episodes by their opaque ID only, never a
patient's name, MRN, date of birth or member ID (tests/deploy/test_metrics.py checks the
logs of a running worker and API).
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID = contextvars.ContextVar[str | None]("request_id", default=None)
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    """One handler on the root logger; uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                FIELDS,
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(FIELDS.replace(" %(message)s", ": %(message)s")))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
