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


# Libraries whose records below WARNING carry the data they handle: SpiffWorkflow attaches a task's
# whole data (the dossier form: names, birth dates, addresses) to every step's record whenever its
# logger's own level is unset or below INFO; aiosqlite and SQLAlchemy's engine log statements with their
# parameters; httpx/httpcore log URLs (a registry read's URL holds the person's key) and headers. A
# logger filter runs wherever the record is created, whatever level someone later sets, so these
# records never reach any handler, ours or a test's. Exact names: a filter on a parent logger does not
# see its children's records.
DATA_CARRYING_LOGGERS = (
    "spiff",
    "spiff.task",
    "spiff.workflow",
    "spiff.data",
    "spiff.dmn",
    "spiff.metrics",
    "aiosqlite",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.orm",
    "sqlalchemy.orm.path_registry",
    "sqlalchemy.pool",
    "asyncpg",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "multipart",
    "multipart.multipart",
    "python_multipart",
    "python_multipart.multipart",
    "weasyprint",
    "fontTools",
    "fontTools.subset",
    "fontTools.ttLib",
    "pyhanko",
)
# Attributes a library may attach to a record that hold data rather than facts about the event.
_DATA_ATTRS = ("data", "internal_data", "task_data", "parameters", "params", "args_repr")


class LibraryDataGuard(logging.Filter):
    """Drops a data-carrying library's records below WARNING and strips data attributes from the rest
    (a workflow error stays visible, without the form it was working on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        for name in _DATA_ATTRS:
            if name in record.__dict__:
                setattr(record, name, None)
        return True


_GUARD = LibraryDataGuard()


def guard_library_loggers() -> None:
    """Idempotent: install the guard on every data-carrying library logger and raise their levels, so
    SpiffWorkflow also stops collecting task data for its records (it does only below INFO)."""
    for name in DATA_CARRYING_LOGGERS:
        lg = logging.getLogger(name)
        if _GUARD not in lg.filters:
            lg.addFilter(_GUARD)
        if lg.level < logging.WARNING:
            lg.setLevel(logging.WARNING)


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
    guard_library_loggers()
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


# Applied on import: the engine and the workflow modules import this module, so the guard is in place
# before any library logs, in the server, the CLI and the tests alike.
guard_library_loggers()
