"""`dgov registries …` as an operator runs it: the real CLI in subprocesses on a fresh SQLite node."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dgov.registries.definitions import registry

pytestmark = pytest.mark.slow

HEADER = (
    "id_number,surname,middle_name,given_name,full_name,birth_date,sex,nationality,status,"
    "permanent_address.street,permanent_address.commune_code,permanent_address.province_code\n"
)
AN = "001090012345"
BINH = "001190012346"
GOOD = HEADER + (
    f"{AN},Nguyễn,Văn,An,Nguyễn Văn An,1990-03-15,M,VN,alive,1 Phố Đội Cấn,00004,01\n"
    f"{BINH},Trần,Thị,Bình,Trần Thị Bình,1990-07-01,F,VN,alive,,00004,01\n"
    "079085001234,Lê,Văn,Cường,Lê Văn Cường,1985-11-02,M,VN,alive,,26734,79\n"
)


@dataclass(frozen=True)
class Node:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # cwd is the test's own directory, so no .env of the repository is read.
        return subprocess.run(
            [sys.executable, "-m", "dgov", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=110,
            check=False,
        )

    def ok(self, *args: str) -> str:
        proc = self.run(*args)
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


def said(proc: subprocess.CompletedProcess[str]) -> str:
    """What the operator reads, table borders and spacing aside."""
    text = proc.stdout + proc.stderr
    return " ".join(text.translate({ord(c): " " for c in "│┃"}).split())


def fresh_node(tmp: Path) -> Node:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(DGOV_DATA_DIR=str(tmp / "var"), DGOV_NODE_NAME="cli-test-node", COLUMNS="250", NO_COLOR="1")
    node = Node(env=env, cwd=tmp)
    node.ok("init", "--no-demo")
    return node


@pytest.fixture(scope="module")
def reg_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for the module, loaded with three people through `import` itself."""
    tmp = tmp_path_factory.mktemp("registries-cli")
    node = fresh_node(tmp)
    (tmp / "people.csv").write_text(GOOD, encoding="utf-8")
    out = node.ok("registries", "import", "population", "people.csv")
    assert "imported 3 records into population" in out
    yield node


def test_list_names_every_registry_and_its_versions(reg_node: Node) -> None:
    listed = {r["registry"]: r for r in reg_node.json("registries", "list")}
    assert set(listed) == {
        "population",
        "civil_status",
        "residence",
        "health_insurance",
        "social_insurance",
        "education",
        "business",
        "land",
    }
    assert listed["population"]["versions"] == [1] and listed["population"]["owner"] == "BCA"
    assert listed["land"]["title"]["vi"] == "Cơ sở dữ liệu quốc gia về đất đai"


def test_get_prints_the_record_and_fails_for_an_unknown_number(reg_node: Node) -> None:
    data = reg_node.json("registries", "get", "population", AN)
    assert data["full_name"] == "Nguyễn Văn An"
    assert data["permanent_address"] == {
        "street": "1 Phố Đội Cấn",
        "commune_code": "00004",
        "province_code": "01",
    }
    missing = reg_node.run("registries", "get", "population", "001090099999", "--json")
    assert missing.returncode == 1 and missing.stdout == ""
    # As of a day before the import, the record did not exist yet.
    assert reg_node.run("registries", "get", "population", AN, "--as-of", "2000-01-01").returncode == 1


def test_search_finds_by_folded_name_year_and_province(reg_node: Node) -> None:
    found = reg_node.json(
        "registries",
        "search",
        "population",
        "--name",
        "NGUYEN van an",
        "--birth-year",
        "1990",
        "--province",
        "01",
        "--limit",
        "5",
    )
    assert [p["id_number"] for p in found] == [AN]
    assert (
        reg_node.json("registries", "search", "population", "--name", "nguyen van an", "--province", "79")
        == []
    )
    prefix = reg_node.json("registries", "search", "population", "--name", "tran thi*", "--limit", "5")
    assert [p["id_number"] for p in prefix] == [BINH]
    # A star or a single word would page through the registry: refused, for the operator too (issue 12).
    for name in ("*", "tran*"):
        refused = reg_node.run("registries", "search", "population", "--name", name)
        assert refused.returncode == 2 and refused.stdout == ""


def test_operator_reads_are_in_the_persons_access_log(reg_node: Node) -> None:
    reg_node.ok("registries", "get", "population", BINH, "--purpose", "answering a citizen's complaint")
    reg_node.ok(
        "registries", "search", "population", "--name", "tran thi binh", "--purpose", "checking a dossier"
    )
    entries = reg_node.json("registries", "access-log", BINH)
    by_purpose = {e["purpose"]: e for e in entries}
    get, search = by_purpose["answering a citizen's complaint"], by_purpose["checking a dossier"]
    for e in (get, search):
        assert (e["accessor"], e["accessor_kind"], e["channel"], e["registry"]) == (
            "system:cli",
            "system",
            "cli",
            "population",
        )
    assert "id_number" in get["fields"] and set(search["fields"]) <= {
        "full_name",
        "birth_date",
        "sex",
        "permanent_address",
    }
    # Nobody read Cường's data.
    assert reg_node.json("registries", "access-log", "079085001234") == []


def test_a_file_with_a_bad_row_is_rejected_whole_with_a_row_level_report(reg_node: Node) -> None:
    bad = reg_node.cwd / "bad.csv"
    bad.write_text(
        HEADER
        + "001090054321,Phạm,Văn,Đức,Phạm Văn Đức,1990-05-05,M,VN,alive,,00004,01\n"
        + "001190054322,Phạm,Thị,Hoa,Phạm Thị Hoa,1990-02-30,F,VN,alive,,00004,01\n"
        + f"{AN},Nguyễn,Văn,An,Nguyễn Văn An,1990-03-15,M,VN,alive,,00004,01\n",
        encoding="utf-8",
    )
    proc = reg_node.run("registries", "import", "population", "bad.csv")
    assert proc.returncode == 1
    text = said(proc)
    assert "nothing imported: 2 of 3 rows of bad.csv are not valid" in text
    assert "3 birth_date Vui lòng nhập ngày theo định dạng YYYY-MM-DD" in text
    assert "4 id_number" in text and AN in text
    # The good first row was not written either.
    assert reg_node.run("registries", "get", "population", "001090054321").returncode == 1

    report = json.loads(reg_node.run("registries", "import", "population", "bad.csv", "--json").stdout)
    assert report["ok"] is False and report["written"] == 0 and report["rows"] == 3
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "birth_date"), (4, "id_number")]


def test_export_writes_what_import_reads(reg_node: Node, tmp_path: Path) -> None:
    out = tmp_path / "population.csv"
    reg_node.ok("registries", "export", "population", "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id_number"] for r in rows] == sorted([AN, BINH, "079085001234"])
    assert rows[0]["permanent_address.street"] == "1 Phố Đội Cấn"
    lines = reg_node.ok("registries", "export", "population").splitlines()
    assert [json.loads(line)["full_name"] for line in lines] == [
        "Nguyễn Văn An",
        "Trần Thị Bình",
        "Lê Văn Cường",
    ]

    # A fresh node takes the export as it is.
    other = fresh_node(tmp_path)
    assert "imported 3 records" in other.ok("registries", "import", "population", str(out))
    assert other.json("registries", "get", "population", BINH) == reg_node.json(
        "registries", "get", "population", BINH
    )


def _has_generator() -> bool:
    if importlib.util.find_spec("dgov.registries.generate") is None:
        return False
    return hasattr(importlib.import_module("dgov.registries.generate"), "generate")


@pytest.mark.skipif(
    not _has_generator(),
    reason="dgov.registries.generate.generate (the synthetic population) is not in this build yet",
)
def test_generate_makes_a_population_that_fits_every_schema(tmp_path: Path) -> None:
    node = fresh_node(tmp_path)
    out = node.ok("registries", "generate", "--people", "300", "--seed", "7")
    made = re.search(r"generated (\d+) people", out)
    assert made is not None, out
    people = node.ok("registries", "export", "population").splitlines()
    assert len(people) == int(made[1]) >= 300
    for name in (
        "population",
        "civil_status",
        "residence",
        "health_insurance",
        "social_insurance",
        "education",
        "business",
        "land",
    ):
        reg = registry(name)
        for line in node.ok("registries", "export", name).splitlines():
            data = json.loads(line)
            assert reg.errors(data) == [], (name, data)
