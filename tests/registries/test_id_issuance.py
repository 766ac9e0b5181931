"""Personal ID numbers for newborns: the place code by date, century-sex digit and year, and a random part
that never collides — checked against the registry, retried on a clash, guarded by the unique constraint
when two registrations race (PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dgov.identity import validate_id_number
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.errors import Conflict, ValidationFailed
from dgov.kernel.keys import NodeKey
from dgov.kernel.uow import Database
from dgov.registries import admin_units
from dgov.registries import engine as reg_engine
from dgov.registries.definitions import registry
from dgov.registries.engine import Provenance
from dgov.registries.id_issuance import Serials, issue_id_number, place_code, prefix, register_newborn
from dgov.registries.models import records

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
PROV = Provenance(actor="test:birth", reason="Birth registration")
LEGACY = [p.code for p in admin_units.provinces(on=date(2025, 6, 30))]


def baby(born: str = "2026-02-20", sex: str = "F", given_name: str = "Hà") -> dict[str, Any]:
    return {
        "surname": "Nguyễn",
        "middle_name": "Thị" if sex == "F" else "Văn",
        "given_name": given_name,
        "full_name": f"Nguyễn {'Thị' if sex == 'F' else 'Văn'} {given_name}",
        "birth_date": born,
        "sex": sex,
        "nationality": "VN",
        "status": "alive",
        "permanent_address": {"commune_code": "00004", "province_code": "01"},
    }


class FewSerials(random.Random):
    """Draws serials from only `n` values, so that clashes are certain."""

    def __init__(self, n: int) -> None:
        super().__init__(1)
        self.n = n

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return super().randrange(self.n)


def test_place_code_depends_on_the_registration_date() -> None:
    assert place_code("02", date(2020, 5, 1)) == "002"  # Hà Giang, before the merger
    assert place_code("08", date(2025, 7, 1)) == "008"  # Tuyên Quang (with Hà Giang) after it
    assert place_code("24", date(2026, 1, 1)) == "024"  # Bắc Ninh reuses Bắc Giang's code [verify rule]
    with pytest.raises(ValidationFailed):
        place_code("02", date(2025, 7, 1))  # Hà Giang no longer exists
    with pytest.raises(ValidationFailed):
        place_code("03", date(2020, 1, 1))


def test_prefix_encodes_century_sex_and_year() -> None:
    assert prefix("01", date(2016, 9, 1), "M") == "001216"
    assert prefix("01", date(1992, 7, 20), "F") == "001192"
    assert prefix("79", date(2101, 1, 1), "F", date(2101, 1, 5)) == "079501"


async def test_issued_number_is_valid_and_skips_numbers_in_use(db: Database) -> None:
    born = date(2026, 2, 20)
    first = prefix("01", born, "F", date(2026, 3, 1)) + f"{random.Random(7).randrange(1_000_000):06d}"
    async with db.uow() as uow:
        await reg_engine.create(
            uow.session, registry("population"), {**baby(), "id_number": first}, PROV, NOW
        )
        number = await issue_id_number(
            uow.session,
            province="01",
            birth_date=born,
            sex="F",
            registered_on=date(2026, 3, 1),
            rng=random.Random(7),
        )
        await uow.commit()
    assert number != first and number[:6] == first[:6]
    assert validate_id_number(number, birth_date=born, sex="F").place_code == "001"


async def test_no_collisions_even_when_serials_are_scarce(db: Database) -> None:
    issued = []
    async with db.uow() as uow:
        rng = FewSerials(30)  # 25 births drawing from 30 serials: most draws clash
        for i in range(25):
            view = await register_newborn(
                uow.session, baby(given_name=f"Hà{i}"), PROV, NOW, province="01", rng=rng
            )
            issued.append(view.key)
        one = FewSerials(1)  # the only serial is taken: give up rather than reuse it
        first = await register_newborn(
            uow.session, baby(born="2025-12-30"), PROV, NOW, province="01", rng=one
        )
        with pytest.raises(Conflict):
            await register_newborn(
                uow.session, baby(born="2025-12-31"), PROV, NOW, province="01", rng=FewSerials(1)
            )
        await uow.commit()
    assert len(set(issued)) == 25
    for number in issued:
        validate_id_number(number, birth_date=date(2026, 2, 20), sex="F")
    assert first.key.endswith(f"{random.Random(1).randrange(1):06d}")


async def test_a_race_for_the_same_number_is_settled_by_the_unique_constraint(
    engine: AsyncEngine, backend: str, node_key: NodeKey
) -> None:
    """Another registration inserts the number we are about to use and commits while our insert waits
    for its lock: ours fails on the unique constraint and retries with another number. (SQLite runs one
    writer at a time, so there the check and the insert cannot interleave.)"""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: the check-then-insert race cannot happen")
    born = date(2026, 2, 20)
    contested = prefix("01", born, "F", born) + f"{random.Random(11).randrange(1_000_000):06d}"
    db = Database.from_engine(engine, CheckpointPolicy(key=node_key, node="test-node", every=5))
    keys = [contested]
    try:
        async with engine.connect() as other:
            tx = await other.begin()
            row = reg_engine.row_for(registry("population"), {**baby(), "id_number": contested}, PROV, NOW)
            await other.execute(insert(records), [row])

            async def ours() -> str:
                async with db.uow() as uow:
                    view = await register_newborn(
                        uow.session,
                        baby(),
                        PROV,
                        NOW,
                        province="01",
                        registered_on=born,
                        rng=random.Random(11),
                    )
                    await uow.commit()
                    return view.key

            task = asyncio.create_task(ours())
            assert await _until_waiting_for_a_lock(engine, task), "our insert should wait for the other one"
            await tx.commit()
            number = await task
        keys.append(number)
        assert number != contested
        validate_id_number(number, birth_date=born, sex="F")
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                delete(records).where(records.c.registry == "population", records.c.key.in_(keys))
            )


async def _until_waiting_for_a_lock(engine: AsyncEngine, task: asyncio.Task[str]) -> bool:
    async with engine.connect() as conn:
        for _ in range(2000):
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            await conn.rollback()  # pg_stat_activity is a snapshot per transaction: take a fresh one
            if waiting or task.done():
                return bool(waiting)
            await asyncio.sleep(0.01)
    raise AssertionError("our registration never waited for the other transaction")


def test_serials_are_a_permutation() -> None:
    serials = Serials(seed=3)
    seen = {serials._permute(x) for x in range(1_000_000)}
    assert len(seen) == 1_000_000


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    seed=st.integers(0, 2**31),
    province=st.sampled_from(LEGACY),
    born=st.dates(date(1900, 1, 1), date(2025, 6, 30)),
    sex=st.sampled_from(["M", "F"]),
    taken=st.sets(st.integers(0, 999_999), max_size=20),
)
def test_bulk_serials_are_valid_unique_and_skip_numbers_in_use(
    seed: int, province: str, born: date, sex: str, taken: set[int]
) -> None:
    head = prefix(province, born, sex)
    exclude = frozenset(f"{head}{t:06d}" for t in taken)
    serials = Serials(seed, exclude)
    numbers = [serials.next(head) for _ in range(300)]
    assert len(set(numbers)) == 300
    assert not exclude & set(numbers)
    for n in numbers[:20]:
        assert validate_id_number(n, birth_date=born, sex=sex).place_code == "0" + province
    # The same seed gives the same numbers.
    again = Serials(seed, exclude)
    assert [again.next(head) for _ in range(5)] == numbers[:5]
