"""The pub/sub half of this package is built separately (pubsub_*.py); the directory, gateway and
pages include it when it is there."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_part(name: str) -> ModuleType | None:
    full = f"dgov.exchange.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:
            raise
        return None
