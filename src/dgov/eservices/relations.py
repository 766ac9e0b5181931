"""Who a dossier names, checked against the registries at submission.

`forms.authoritative` pins only what the prefill found; whatever the applicant typed about other people
(a child, a parent, a partner, a deceased relative, a household head) is a claim. Before a dossier is
submitted every person it names by ID number is read from the population registry through the exchange
(the same signed, logged path as the prefill, as the one-stop centre's subsystem), the name and birth
date typed are compared with the record, and the relation the procedure rests on is checked: the
applicant is the child's parent, the parents' marriage is on record, the partner is unmarried, the
deceased exists. A refusal is a field error in Vietnamese on the field that is wrong.

Some claims the registries cannot confirm but the law allows: a father who is not the mother's husband
on record (recognition of paternity, Luật Hộ tịch 2014 Art. 15 and 25), a household head taking in a
new member. Those become `Pending` declarations: the dossier is submitted but its process does not start
— nothing is written to anyone's records — until the named person confirms in their own account
(`declarations`).

A newborn joins a household without the head's consent only when the parent the child joins is that
household's head, or the head is the other parent on record: the legal basis is the minor's residence
being the parents' (Luật Cư trú 68/2020/QH14 Art. 12(1)). Any other head must consent (Art. 20(2)(a)).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dgov.eservices import forms
from dgov.eservices.catalogue import Procedure
from dgov.eservices.prefill import Read, exchange_read
from dgov.kernel.errors import FieldError

if TYPE_CHECKING:
    from dgov.web.runtime import Runtime

HOUSEHOLD_BASIS = "Luật Cư trú 68/2020/QH14, Điều 12 khoản 1 (nơi cư trú của người chưa thành niên)"
HOUSEHOLD_CONSENT_BASIS = "Luật Cư trú 68/2020/QH14, Điều 20 khoản 2 điểm a (chủ hộ đồng ý)"
PARENT_BASIS = "Luật Hộ tịch 60/2014/QH13, Điều 15 và Điều 25 (nhận cha, mẹ, con)"

_PERSON = [
    "full_name",
    "birth_date",
    "sex",
    "status",
    "spouse_id_number",
    "father_id_number",
    "mother_id_number",
    "household_id",
]
PARENTS = ("mother", "father")


def N_(message: str) -> str:
    return message


NOT_FOUND = N_("No one with this ID number is in the population registry")
NAME_MISMATCH = N_("The name does not match the population registry for this ID number")
BIRTH_MISMATCH = N_("The date of birth does not match the population registry for this ID number")
SEX_MISMATCH = N_("The sex does not match the population registry for this ID number")
DECEASED = N_("This person is recorded as deceased in the population registry")
NOT_YOURS = N_("This ID number must be your own")
NOT_PARENT = N_("You must be the child's mother or father to file this dossier")
NOT_YOUR_CHILD = N_("This person is not your child according to the population registry")
MOTHER_SEX = N_("The mother named is not recorded as a woman in the population registry")
FATHER_SEX = N_("The father named is not recorded as a man in the population registry")
NO_HOUSEHOLD = N_("The parent you chose has no household in the residence registry")
ALREADY_DEAD = N_("This death is already registered")
NOT_DEAD = N_("This person's death is not registered yet")
MARRIED = N_("This person is married according to the population registry")
YOU_MARRIED = N_("You are married according to the population registry")
YOURSELF = N_("You cannot name yourself here")
NO_WAITING = N_("This person would have to confirm first: a dossier being supplemented cannot wait for that")


@dataclass(frozen=True)
class Pending:
    """A claim the named person must confirm before the dossier's process starts."""

    kind: str  # parent | household_head
    role: str  # the form section that names them
    person_id_number: str
    basis: str

    @property
    def loc(self) -> tuple[str, ...]:
        return ("residence", "household_of") if self.kind == "household_head" else (self.role, "id_number")


@dataclass
class Checked:
    errors: list[FieldError] = field(default_factory=list)
    declarations: list[Pending] = field(default_factory=list)
    # What the check relied on, for the audit entry: section → registry key read, and legal bases.
    resolved: dict[str, str] = field(default_factory=dict)
    bases: list[str] = field(default_factory=list)

    def error(self, section: str, name: str, message: str) -> None:
        loc = (section, name)
        if all(e.loc != loc for e in self.errors):
            self.errors.append(FieldError(loc, message))


def _norm(text: Any) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text or "")).casefold().split())


def _purpose(proc: Procedure) -> str:
    return f"Kiểm tra người được nêu trong hồ sơ {proc.raw['name']['vi']} (thủ tục {proc.code})"


class _People:
    """Population records read once each through the exchange for one check."""

    def __init__(self, rt: Runtime, proc: Procedure, reference: str) -> None:
        self.rt, self.purpose, self.reference = rt, _purpose(proc), reference
        self.cache: dict[str, Read | None] = {}

    async def get(self, id_number: str) -> Read | None:
        if id_number not in self.cache:
            self.cache[id_number] = await exchange_read(
                self.rt,
                registry="population",
                key=id_number,
                fields=_PERSON,
                purpose=self.purpose,
                reference=self.reference,
            )
        return self.cache[id_number]

    async def household(self, household_id: str) -> Read | None:
        return await exchange_read(
            self.rt,
            registry="residence",
            key=household_id,
            fields=["head_id_number"],
            purpose=self.purpose,
            reference=self.reference,
        )


def _sections_with_id(proc: Procedure) -> list[str]:
    props = proc.form_schema.get("properties", {})
    return [s for s in proc.sections if "id_number" in props.get(s, {}).get("properties", {})] + [
        s for s in proc.sections if "head_id_number" in props.get(s, {}).get("properties", {})
    ]


async def check(
    rt: Runtime, proc: Procedure, applicant_id_number: str, data: dict[str, Any], *, reference: str
) -> Checked:
    """Resolve every person `data` names by ID number and check the relations `proc` rests on."""
    out = Checked()
    people = _People(rt, proc, reference)
    me = await people.get(applicant_id_number)
    mine = me.data if me else {}
    named: dict[str, dict[str, Any]] = {}  # section → its record, for those found
    for section in _sections_with_id(proc):
        id_field = "head_id_number" if section == "residence" else "id_number"
        key = str(forms.get_path(data, f"{section}.{id_field}") or "").strip()
        if not key:
            continue
        if section == "applicant":
            if key != applicant_id_number:
                out.error(section, id_field, NOT_YOURS)
            continue
        person = await people.get(key)
        if person is None:
            out.error(section, id_field, NOT_FOUND)
            continue
        out.resolved[section] = person.key
        named[section] = person.data
        typed = forms.get_path(data, f"{section}.full_name")
        if typed and _norm(typed) != _norm(person.data.get("full_name")):
            out.error(section, "full_name", NAME_MISMATCH)
        born = forms.get_path(data, f"{section}.birth_date")
        if born and str(born) != str(person.data.get("birth_date")):
            out.error(section, "birth_date", BIRTH_MISMATCH)
        sex = forms.get_path(data, f"{section}.sex")
        if sex and str(sex) != str(person.data.get("sex")):
            out.error(section, "sex", SEX_MISMATCH)
        if person.data.get("status") == "dead" and section not in ("deceased",):
            out.error(section, id_field, DECEASED)
    sections = set(proc.sections)
    if sections >= {"mother", "child"}:
        await _birth(out, people, data, applicant_id_number, mine, named)
    elif "child" in sections and "child" in named:
        child = named["child"]
        if applicant_id_number not in (child.get("father_id_number"), child.get("mother_id_number")):
            out.error("child", "id_number", NOT_YOUR_CHILD)
    if "deceased" in named:
        dead = named["deceased"].get("status") == "dead"
        if proc.id.startswith("death") and dead:
            out.error("deceased", "id_number", ALREADY_DEAD)
        if not proc.id.startswith("death") and not dead:
            out.error("deceased", "id_number", NOT_DEAD)
        if out.resolved.get("deceased") == applicant_id_number:
            out.error("deceased", "id_number", YOURSELF)
    if "partner" in sections and "partner" in named:
        if out.resolved["partner"] == applicant_id_number:
            out.error("partner", "id_number", YOURSELF)
        elif named["partner"].get("spouse_id_number"):
            out.error("partner", "id_number", MARRIED)
        if mine.get("spouse_id_number"):
            out.error("applicant", "id_number", YOU_MARRIED)
    if "residence" in named:  # joining someone's household (permanent residence): the head consents
        head = out.resolved["residence"]
        if head != applicant_id_number:
            out.declarations.append(Pending("household_head", "residence", head, HOUSEHOLD_CONSENT_BASIS))
    return out


async def _birth(
    out: Checked,
    people: _People,
    data: dict[str, Any],
    applicant: str,
    mine: dict[str, Any],
    named: dict[str, dict[str, Any]],
) -> None:
    """A birth: the applicant is one of the parents; the other parent is on record as the applicant's
    spouse or must confirm; the child joins a household on a legal basis or with the head's consent."""
    ids = {p: str(forms.get_path(data, f"{p}.id_number") or "").strip() for p in PARENTS}
    if "mother" in named and named["mother"].get("sex") != "F":
        out.error("mother", "id_number", MOTHER_SEX)
    if "father" in named and named["father"].get("sex") != "M":
        out.error("father", "id_number", FATHER_SEX)
    relationship = forms.get_path(data, "applicant.relationship")
    if applicant not in ids.values() or (relationship in PARENTS and ids.get(str(relationship)) != applicant):
        loc = ("applicant", "relationship") if relationship else ("mother", "id_number")
        out.error(*loc, NOT_PARENT)
        return
    spouse = str(mine.get("spouse_id_number") or "")
    on_record = {applicant} | ({spouse} if spouse and spouse in ids.values() else set())
    for role in PARENTS:
        key = ids[role]
        if key and role in named and key not in on_record:
            out.declarations.append(Pending("parent", role, key, PARENT_BASIS))
    chosen = forms.get_path(data, "residence.household_of")
    if chosen not in PARENTS:
        return
    parent = named.get(str(chosen))
    household = str((parent or {}).get("household_id") or "")
    if not household:
        out.error("residence", "household_of", NO_HOUSEHOLD)
        return
    home = await people.household(household)
    head = str((home.data if home else {}).get("head_id_number") or "")
    if not head:
        out.error("residence", "household_of", NO_HOUSEHOLD)
        return
    # The head is the parent the child joins, or a parent on record (the applicant or their spouse): the
    # minor's residence is the parents' and needs no one else's consent. A head who is a parent still to
    # confirm paternity is covered too: the dossier waits for that confirmation before anything is written.
    if head in on_record or head == ids[str(chosen)]:
        out.bases.append(HOUSEHOLD_BASIS)
    else:
        out.declarations.append(Pending("household_head", "residence", head, HOUSEHOLD_CONSENT_BASIS))
