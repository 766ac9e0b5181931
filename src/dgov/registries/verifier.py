"""The population registry's check of a new citizen account: the person must be registered with the
same name, birth date and sex as typed (identity's `PersonVerifier`)."""

from __future__ import annotations

from dgov.kernel.uow import Database
from dgov.registries import engine
from dgov.registries.normalize import fold


class PopulationVerifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def verify(self, *, id_number: str, full_name: str, birth_date: object, sex: str) -> bool:
        # The person's own registration: a system read on their behalf, not an official's (no access log).
        async with self.db.uow(readonly=True) as uow:
            record = await engine.read(uow.session, "population", id_number)
        if record is None or record.deleted:
            return False
        data = record.data
        return (
            fold(str(data.get("full_name", ""))) == fold(full_name)
            and str(data.get("birth_date")) == str(birth_date)
            and data.get("sex") == sex
            and data.get("status") == "alive"
        )
