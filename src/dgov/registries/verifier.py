"""The population registry's check of a new citizen account: the person must be registered with the
same name, birth date and sex as typed (identity's `PersonVerifier`), and the contacts on file are the
only places an activation code may go."""

from __future__ import annotations

from typing import Any

from dgov.identity import PersonOnFile
from dgov.kernel.uow import Database
from dgov.registries import engine
from dgov.registries.normalize import fold


class PopulationVerifier:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _matching(
        self, *, id_number: str, full_name: str, birth_date: object, sex: str
    ) -> dict[str, Any] | None:
        # The person's own registration: a system read on their behalf, not an official's (no access log).
        async with self.db.uow(readonly=True) as uow:
            record = await engine.read(uow.session, "population", id_number)
        if record is None or record.deleted:
            return None
        data = record.data
        same = (
            fold(str(data.get("full_name", ""))) == fold(full_name)
            and str(data.get("birth_date")) == str(birth_date)
            and data.get("sex") == sex
            and data.get("status") == "alive"
        )
        return data if same else None

    async def verify(self, *, id_number: str, full_name: str, birth_date: object, sex: str) -> bool:
        found = await self._matching(id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex)
        return found is not None

    async def on_file(
        self, *, id_number: str, full_name: str, birth_date: object, sex: str
    ) -> PersonOnFile | None:
        found = await self._matching(id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex)
        if found is None:
            return None
        return PersonOnFile(phone=found.get("phone") or None, email=found.get("email") or None)
