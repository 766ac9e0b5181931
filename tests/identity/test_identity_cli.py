"""`dgov identity add-citizen` and `add-official` as an operator runs them: the real CLI in a subprocess on
a fresh SQLite node (DGOV_DATA_DIR), then a look into the database file to see what was, or was not,
written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from dgov.kernel.i18n import translations

pytestmark = pytest.mark.slow

PASSWORD = "dan-so-mot-lan-2026"
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CITIZEN = [
    "--id-number", "001090012345", "--full-name", "Nguyễn Văn An", "--birth-date", "1990-03-15",
    "--sex", "M", "--password", PASSWORD,
]  # fmt: skip
OFFICIAL = [
    "--username", "hotich.badinh", "--agency", "BTP", "--role", "civil_status_officer", "--unit", "00004",
    "--password", "canbo-demo-2026!",
]  # fmt: skip


@dataclass(frozen=True)
class Node:
    env: dict[str, str]
    dir: Path

    def dgov(self, *args: str) -> subprocess.CompletedProcess[str]:
        # cwd is the node's own directory, so no .env of the repository is read.
        return subprocess.run(
            [sys.executable, "-m", "dgov", *args], env=self.env, cwd=self.dir, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(self.dir / "var" / "dgov.sqlite3")) as conn:
            return conn.execute(sql, params).fetchall()

    def accounts(self) -> list[tuple[object, ...]]:
        return self.query(
            "SELECT kind, id_number, username, full_name, status FROM identity_accounts ORDER BY kind"
        )

    def audit_actions(self) -> list[str]:
        return [str(r[0]) for r in self.query("SELECT action FROM audit_records ORDER BY seq")]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(
        DGOV_DATA_DIR=str(tmp_path / "var"),
        DGOV_LOG_JSON="false",
        COLUMNS="200",  # Rich would otherwise wrap messages at 80 columns
        NO_COLOR="1",
    )
    n = Node(env, tmp_path)
    init = n.dgov("init", "--no-demo")
    assert init.returncode == 0, init.stderr
    assert n.accounts() == []
    yield n


def said(proc: subprocess.CompletedProcess[str]) -> str:
    return " ".join((proc.stdout + proc.stderr).split())


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_add_citizen_creates_an_active_account_that_can_log_in(node: Node) -> None:
    out = ok(node.dgov("identity", "add-citizen", *CITIZEN, "--totp-secret", SEED, "--phone", "0912000001"))
    assert "citizen account" in out and "created" in out
    assert node.accounts() == [("citizen", "001090012345", None, "Nguyễn Văn An", "active")]
    [(hash_, sealed, phone)] = node.query("SELECT password_hash, totp_secret, phone FROM identity_accounts")
    assert str(hash_).startswith("$argon2id$") and PASSWORD not in str(hash_)
    assert str(sealed).startswith("fernet:v1:") and SEED not in str(sealed)
    assert phone == "0912000001"
    assert node.audit_actions()[-1] == "identity.citizen_created"
    [(actor,)] = node.query("SELECT actor FROM audit_records WHERE action = 'identity.citizen_created'")
    assert actor == "system"
    # The seed was sealed with this node's secret: the node can open it again and check a real code.
    check = subprocess.run(
        [sys.executable, "-c", VERIFY_SEED, SEED, pyotp.TOTP(SEED).now()],
        env=node.env, cwd=node.dir, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


VERIFY_SEED = """
import sqlite3, sys
from dgov.identity.context import IdentityContext
from dgov.identity.service import TOTP_PURPOSE
from dgov.kernel.config import get_settings
from dgov.kernel.keys import ensure_secret
settings = get_settings()
sealed = sqlite3.connect(settings.data_dir / "dgov.sqlite3").execute(
    "SELECT totp_secret FROM identity_accounts").fetchone()[0]
ctx = IdentityContext(db=None, secret=ensure_secret(settings.keys_dir))
assert ctx.box(TOTP_PURPOSE).open(sealed) == sys.argv[1]
"""


def test_add_official_creates_an_official_with_its_role(node: Node) -> None:
    out = ok(node.dgov("identity", "add-official", *OFFICIAL, "--full-name", "Phạm Thu Hà"))
    assert "official account" in out
    assert node.accounts() == [("official", None, "hotich.badinh", "Phạm Thu Hà", "active")]
    assert node.query("SELECT agency_code, role, unit_code FROM identity_official_roles") == [
        ("BTP", "civil_status_officer", "00004")
    ]
    operator = ["--username", "quantri", "--agency", "DGOV", "--role", "operator", "--unit", "*"]
    ok(
        node.dgov(
            "identity", "add-official", *operator, "--password", "quan-tri-demo-2026", "--totp-secret", SEED
        )
    )
    assert ("operator", None, "quantri", "quantri", "active") in node.accounts()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--id-number", "00109001234"], "id_number"),
        (["--id-number", "003090012345"], "id_number"),
        (["--sex", "F"], "id_number"),  # the number says male
        (["--sex", "X"], "sex"),
        (["--password", "password123"], "password"),
        (["--password", "nguyenvanan1990"], "password"),
        (["--totp-secret", "SHORT"], "totp_secret"),
        (["--phone", "call me"], "phone"),
        (["--birth-date", "15/03/1990"], "--birth-date"),
    ],
)
def test_bad_citizen_input_exits_2_with_a_message_and_writes_nothing(
    node: Node, args: list[str], expected: str
) -> None:
    before = node.audit_actions()
    base = list(CITIZEN)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in base:
            base[base.index(flag) + 1] = value
        else:
            base += [flag, value]
    proc = node.dgov("identity", "add-citizen", *base)
    assert proc.returncode == 2, said(proc)
    assert expected in said(proc)
    assert "Traceback" not in proc.stderr
    assert node.accounts() == []
    assert node.audit_actions() == before


def test_the_message_names_the_field_and_says_what_is_wrong_in_vietnamese_first(node: Node) -> None:
    base = list(CITIZEN)
    base[base.index("--id-number") + 1] = "00109001234"
    proc = node.dgov("identity", "add-citizen", *base)
    assert proc.returncode == 2
    message = translations("vi").gettext("A personal identification number has exactly 12 digits")
    assert f"id_number: {message}" in said(proc)


def test_a_second_citizen_with_the_same_number_is_refused(node: Node) -> None:
    ok(node.dgov("identity", "add-citizen", *CITIZEN))
    proc = node.dgov("identity", "add-citizen", *CITIZEN)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(node.accounts()) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--role", "king"], "role"),
        (["--unit", "123"], "unit"),
        (["--username", "has space"], "username"),
        (["--username", "001090012345"], "username"),
        (["--agency", " "], "agency"),
        (["--password", "short"], "password"),
    ],
)
def test_bad_official_input_exits_2_with_a_message_and_writes_nothing(
    node: Node, args: list[str], expected: str
) -> None:
    before = node.audit_actions()
    base = list(OFFICIAL)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[base.index(flag) + 1] = value
    proc = node.dgov("identity", "add-official", *base)
    assert proc.returncode == 2, said(proc)
    assert expected in said(proc)
    assert "Traceback" not in proc.stderr
    assert node.accounts() == []
    assert node.query("SELECT count(*) FROM identity_official_roles") == [(0,)]
    assert node.audit_actions() == before


def test_a_missing_option_is_a_usage_error(node: Node) -> None:
    proc = node.dgov("identity", "add-citizen", "--id-number", "001090012345")
    assert proc.returncode == 2
    assert "--full-name" in said(proc)
    assert node.accounts() == []
