"""A household's records in every registry asked for."""

from __future__ import annotations

import random

from dgov.registries.generate.civil import CivilStatusRecords
from dgov.registries.generate.economy import EconomyRecords
from dgov.registries.generate.education import EducationRecords
from dgov.registries.generate.insurance import InsuranceRecords
from dgov.registries.generate.people import Person
from dgov.registries.generate.registers import PopulationRecords
from dgov.registries.generate.world import Rec


class Generator(PopulationRecords, CivilStatusRecords, InsuranceRecords, EducationRecords, EconomyRecords):
    """Every registry's records for the households `Households` draws."""

    def records(self, rng: random.Random, people: list[Person], out: list[Rec]) -> None:
        """The household's records in the registries asked for. They draw from a random generator of
        their own, so the people are the same whatever registries are written."""
        rng = random.Random(rng.getrandbits(64))  # noqa: S311 - synthetic data, reproducible by design
        only = self.only
        living = [p for p in people if p.death is None]
        home = people[0].commune
        street = self._street(rng, home)
        household_id = self._household_id(home) if living else None
        if "population" in only:
            for p in people:
                self._population(p, street, household_id if p.death is None else None, out)
        if living and "residence" in only:
            self._residence(rng, living, household_id or "", street, out)
        for p in people:
            self._person_records(rng, p, street, out)
        if living and "land" in only:
            self._land(rng, living[0], street, out)
        for p in people:
            # Spouses point at each other: break the cycles so that reference counting frees a household
            # at once (the generator runs with the cyclic garbage collector paused).
            p.spouse = p.father = p.mother = None

    def _person_records(self, rng: random.Random, p: Person, street: str, out: list[Rec]) -> None:
        """One person's records beyond the population registry, in a fixed order (the draws from
        `rng` must come in the same order for a seed to give the same population)."""
        only = self.only
        if "civil_status" in only:
            self._civil_status(rng, p, out)
        if p.death is not None:
            return
        if "health_insurance" in only or "social_insurance" in only:
            self._insurance(rng, p, street, out)
        if "education" in only:
            self._education(rng, p, out)
        if "business" in only:
            self._business(rng, p, street, out)
