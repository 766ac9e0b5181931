"""Structured JSON logs. Personal ID numbers (12 digits) and old ID card numbers (9 digits) are masked
before a line leaves the process: logs travel further than databases and outlive them."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# Standalone 9- or 12-digit runs: the CCCD personal ID number and the legacy CMND. Longer or shorter
# digit runs (phone numbers have 10, dossier sequences 4) are left alone. Hex tokens (request ids,
# UUIDs, hashes) are matched first and kept whole: a digit run inside one is not an ID, and masking it
# would break the very value an operator greps for.
_ID_RE = re.compile(
    r"(?P<hex>(?<![0-9A-Za-z])(?:[0-9a-fA-F]{32,}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![0-9A-Za-z]))"
    r"|(?<!\d)\d{9}(?:\d{3})?(?!\d)"
)


def mask_ids(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group("hex"):
            return m.group(0)
        digits = m.group(0)
        if len(digits) == 12:
            return digits[:3] + "******" + digits[-3:]
        return digits[:2] + "*****" + digits[-2:]

    return _ID_RE.sub(repl, text)


# uvicorn adds `color_message` (the same text with ANSI colours) to its records: noise in JSON.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_ids(json.dumps(entry, ensure_ascii=False, default=str))


class MaskingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_ids(super().format(record))


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    text_format = "%(asctime)s %(levelname)s %(name)s %(message)s"
    handler.setFormatter(JsonFormatter() if json_lines else MaskingTextFormatter(text_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Uvicorn's own loggers go through the same masking formatter; its access lines are dropped because
    # ObservabilityMiddleware writes one richer line per request (as in `uvicorn_log_config`).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = name != "uvicorn.access"


def uvicorn_log_config(level: str = "INFO", *, json_lines: bool = True) -> dict[str, object]:
    """A dictConfig that uvicorn applies in every worker process, so workers log like the parent."""
    formatter = "dgov.kernel.logging." + ("JsonFormatter" if json_lines else "MaskingTextFormatter")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Our ObservabilityMiddleware writes one richer line per request instead.
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }
