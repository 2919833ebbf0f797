"""Logging for every process (`watcher serve`, its uvicorn workers, `watcher worker`), set up in one place.

Text lines for people by default; WATCHER_LOG_FORMAT=json gives one JSON object per line for log
shippers, with the same fields. Records logged while a request is handled carry its request id.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LEVELS = ("critical", "error", "warning", "info", "debug")

# The id of the request being handled, for every record logged on its behalf ("-" outside requests).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def logging_config(level: str = "info", log_format: LogFormat = "text") -> dict[str, Any]:
    """A logging.config.dictConfig document; uvicorn takes the same one (`log_config`) for its workers."""
    level = level.upper()
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    # Library chatter stays at WARNING unless debugging: uvicorn's own access log is replaced by ours,
    # and Procrastinate logs one line per job run (a delivery sweep every 5 s).
    quiet = level if level == "DEBUG" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "default", "filters": ["request_id"]}
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "procrastinate": {"level": quiet},
            "alembic": {"level": quiet},
            "httpx": {"level": quiet},
            "httpcore": {"level": quiet},
            "asyncio": {"level": quiet},
            # SQLAlchemy names a pool's logger after its class: ours would log each dispose at INFO
            "watcher_server.db.engine.ShrinkingPool": {"level": quiet},
        },
    }


def configure_logging(level: str = "info", log_format: LogFormat = "text", access_log: bool = True) -> dict[str, Any]:
    """Apply the configuration to this process and return it (for uvicorn's workers)."""
    config = logging_config(level, log_format)
    if not access_log:
        config["loggers"]["watcher.access"] = {"level": "WARNING"}
    logging.config.dictConfig(config)
    return config
