"""A synthetic but believable population, streamed into the registries at national scale.

Households are drawn one at a time: a couple with children (sometimes the head's parents), a single
person, an elderly couple or a single parent, living in a commune of a province chosen by population.
Ages follow the UN's age pyramid for Viet Nam, names the real family-name frequencies, and every event
is consistent with the ages (parents older than their children, marriages before the first child,
deaths after the births they witnessed). Each person gets a population record with a valid, unique
personal ID number linked to parents and spouse; households go to the residence registry; births (from
`BIRTH_RECORDS_FROM`), marriages and deaths to civil status; health insurance cards to most people and
every child under 6, social insurance books (same insurance number) to those who contribute; diplomas to
adults; enterprises and household businesses to some working-age people; land parcels to households.

Bounded memory and speed: people are generated and written batch by batch (nothing is kept about a person
once the batch is written, only counters), rows are built directly in the engine's column layout (the
same values `engine.row_for` and `columns_for` would give, checked by the tests), and written with one
executemany per batch on SQLite or COPY on PostgreSQL, each batch committed by its own unit of work.
The result depends only on (seed, as_of): every batch has its own seeded random generator and the
counters advance in a fixed order. From `WORKER_FROM` people the batches are built by a worker process
(`python -m dgov.registries.generate --worker`) while this one writes, so both cores work.

Modules: `world` (reference tables, shared constants), `people` (households and their members, ID
numbers), `registers` (population and residence), `civil` (births, marriages, deaths), `insurance`
(health and social insurance), `education` (diplomas), `economy` (businesses, land), `records` (a
household's records in every registry), `writer` (rows in the driver's format), `run` (the use case,
the worker process).
"""

from dgov.registries.generate.run import WORKER_FROM, GenerateStats, _batches, _Builder, generate
from dgov.registries.generate.world import ACTOR, BIRTH_RECORDS_FROM, REGISTRIES
from dgov.registries.generate.writer import _Writer

__all__ = [
    "ACTOR",
    "BIRTH_RECORDS_FROM",
    "REGISTRIES",
    "WORKER_FROM",
    "GenerateStats",
    "_Builder",
    "_Writer",
    "_batches",
    "generate",
]
