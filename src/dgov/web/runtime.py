"""What a running node holds: settings, database, node key, outbox dispatcher.

Built once per process by the app's lifespan (or by a CLI command) and reached through `app.state`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dgov.domains import domain_modules
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.config import Settings
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey, ensure_node_key, ensure_secret
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database
from dgov.kernel.workers import ProcessPool


@dataclass
class Runtime:
    settings: Settings
    db: Database
    node_key: NodeKey
    dispatcher: Dispatcher
    secret: str = ""
    # CPU-bound jobs (signature validation) run here, off the event loop; processes start on first use.
    pool: ProcessPool = field(default_factory=ProcessPool)
    # Per-domain objects built once per process (e.g. identity's context), keyed by domain name.
    extras: dict[str, Any] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _workers: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> Runtime:
        key = ensure_node_key(settings.keys_dir)
        if db is None:
            policy = CheckpointPolicy(key=key, node=settings.node_name, every=settings.audit_checkpoint_every)
            db = Database.from_engine(make_engine(settings.db_url), policy)
        dispatcher = Dispatcher(
            db,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            max_attempts=settings.outbox_max_attempts,
            poll_seconds=settings.outbox_poll_seconds,
        )
        db.after_commit.append(dispatcher.wake)
        secret = (
            settings.secret_key.get_secret_value()
            if settings.secret_key
            else ensure_secret(settings.keys_dir)
        )
        return cls(
            settings=settings,
            db=db,
            node_key=key,
            dispatcher=dispatcher,
            secret=secret,
            pool=ProcessPool(workers=settings.cpu_workers),
        )

    def start_background(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self.dispatcher.run_forever(self._stop), name="outbox-dispatcher")
        # Domains with periodic work (eservices' SLA timers) run it beside the dispatcher.

        for name, mod in domain_modules("timers"):
            if hasattr(mod, "background"):
                task = asyncio.create_task(mod.background(self, self._stop), name=f"{name}-timers")
                self._workers.append(task)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self.pool.close()
        if self.db.engine is not None:
            await self.db.engine.dispose()
