"""Identity's date rules use Vietnam's date: from 17:00 to 24:00 UTC the UTC date is still yesterday in
Vietnam, and a rule on `clock.now().date()` would call a child born today "born in the future" or keep a
parent acting for a child who turned 14 today."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

from idkit import id_number_for

from dgov.identity.account_rules import NewCitizen
from dgov.identity.authz import Principal, can
from dgov.kernel.clock import FrozenClock

EVENING_UTC = datetime(2026, 3, 14, 20, 0, tzinfo=UTC)  # 15/03/2026 03:00 in Hà Nội
VN_TODAY = date(2026, 3, 15)


def test_a_child_born_today_in_vietnam_is_not_born_in_the_future(id_clock: FrozenClock) -> None:
    id_clock.set(EVENING_UTC)
    typed = NewCitizen.of(
        id_number=id_number_for(VN_TODAY, "F", serial="000123"),
        full_name="Nguyễn Thị Mai",
        birth_date=VN_TODAY,
        sex="F",
    )
    assert [e.loc for e in typed.errors()] == []
    tomorrow = NewCitizen.of(
        id_number=id_number_for(date(2026, 3, 16), "F", serial="000124"),
        full_name="Nguyễn Thị Mai",
        birth_date=date(2026, 3, 16),
        sex="F",
    )
    assert ("birth_date",) in [e.loc for e in tomorrow.errors()]


def test_a_parent_stops_acting_for_a_child_on_the_childs_fourteenth_birthday_in_vietnam(
    id_clock: FrozenClock,
) -> None:
    parent = Principal(kind="citizen", account_id=uuid.uuid4(), level=2)
    child = SimpleNamespace(id=uuid.uuid4(), birth_date=date(2012, 3, 15), guardian_id=parent.account_id)
    id_clock.set(datetime(2026, 3, 14, 16, 0, tzinfo=UTC))  # still 14/03 in Vietnam: 13 years old
    assert can(parent, "identity.account.view", child)
    id_clock.set(EVENING_UTC)  # 15/03 in Vietnam: 14 today
    assert not can(parent, "identity.account.view", child)
