"""The command-line contract: `templates --json`, `issue … --out`, `verify … --json` with its exit codes,
run as an operator would (a real process over a fresh data directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dgov.documents.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_templates_json_lists_name_fields_and_a_complete_example() -> None:
    result = CliRunner().invoke(app, ["templates", "--json"])
    assert result.exit_code == 0, result.output
    listed = {t["name"]: t for t in json.loads(result.output)}
    assert set(listed) >= {
        "birth-certificate",
        "marital-status",
        "residence-confirmation",
        "health-insurance-card",
    }
    birth = listed["birth-certificate"]
    names = {f["name"] for f in birth["fields"]}
    assert {"child.full_name", "child.id_number", "mother.full_name", "registration.date"} <= names
    assert birth["example"]["child"]["full_name"] == "Nguyễn Minh Khang"
    assert birth["agency"] == "UBND-BADINH" and birth["schema"]["type"] == "object"


def _dgov(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(DGOV_DATA_DIR=str(data_dir), DGOV_ENV="test", DGOV_LOG_JSON="false")
    return subprocess.run(
        [sys.executable, "-m", "dgov", *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_issue_then_verify_with_exit_codes(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    assert _dgov(["migrate"], data_dir).returncode == 0
    example = json.loads(CliRunner().invoke(app, ["templates", "--json"]).output)[0]
    assert example["name"] == "birth-certificate"
    data = tmp_path / "khai-sinh.json"
    data.write_text(json.dumps(example["example"], ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "khai-sinh.pdf"

    issued = _dgov(
        [
            "documents",
            "issue",
            "--template",
            "birth-certificate",
            "--data",
            str(data),
            "--out",
            str(out),
            "--holder",
            "001090012345",
            "--json",
        ],
        data_dir,
    )
    assert issued.returncode == 0, issued.stderr
    info = json.loads(issued.stdout)
    assert info["agency"] == "UBND-BADINH" and out.read_bytes().startswith(b"%PDF-")

    ok = _dgov(["documents", "verify", str(out), "--json"], data_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    verdict = json.loads(ok.stdout)
    assert verdict["valid"] and verdict["code"] == info["code"]
    assert (
        verdict["signature"]["certificate_status"] == "good"
        and verdict["document"]["matches_registered_copy"]
    )

    altered = bytearray(out.read_bytes())
    altered[len(altered) // 3] ^= 0x01
    bad = tmp_path / "sua.pdf"
    bad.write_bytes(bytes(altered))
    tampered = _dgov(["documents", "verify", str(bad), "--json"], data_dir)
    assert tampered.returncode == 1
    assert not json.loads(tampered.stdout)["valid"]

    data.write_text(json.dumps({"child": {}}), encoding="utf-8")
    refused = _dgov(
        [
            "documents",
            "issue",
            "--template",
            "birth-certificate",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "x.pdf"),
        ],
        data_dir,
    )
    assert refused.returncode == 2 and not (tmp_path / "x.pdf").exists()
    other_agency = _dgov(
        [
            "documents",
            "issue",
            "--template",
            "marital-status",
            "--data",
            str(data),
            "--agency",
            "NOPE",
            "--out",
            str(tmp_path / "y.pdf"),
        ],
        data_dir,
    )
    assert other_agency.returncode == 2
