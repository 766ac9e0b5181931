"""Every benchmark in bench/ still runs: each one in its smoke mode (`--smoke`: tiny sizes, loops of a
fraction of a second, nothing written to bench/results or docs) as a subprocess, as a developer runs it.
Only that it completes and prints its figures is checked; the figures themselves mean nothing at
these sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def run(script: str, *args: str, env: dict[str, str] | None = None, cwd: Path) -> str:
    results = sorted((BENCH / "results").glob("*"))
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *args],
        cwd=cwd,  # not the repository: a developer's .env there must not leak into the run
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    # A smoke run leaves the committed results alone.
    assert sorted((BENCH / "results").glob("*")) == results
    return proc.stdout


def last_json(out: str) -> dict[str, Any]:
    """The JSON object the script printed last (a line starting with `{` up to the last `}`)."""
    start = 0 if out.startswith("{") else out.rindex("\n{") + 1
    return dict(json.loads(out[start : out.rindex("}") + 1]))


def test_birth_benchmark_runs(demo_nodes: Callable[[str], Any], tmp_path: Path) -> None:
    env = demo_nodes("sqlite").copy_to(tmp_path / "var")  # the bench needs `dgov init`'s demo data
    figures = last_json(run("birth.py", env=env, cwd=tmp_path))
    assert figures["n"] == 2
    assert figures["p50_ms"] > 0 and figures["dossiers_per_s"] > 0 and figures["certificate_p50_ms"] > 0


def test_exchange_benchmark_runs(tmp_path: Path) -> None:
    out = run("exchange.py", cwd=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("C=")]
    assert len(rows) == 2, out  # concurrency 1 and 2
    assert "errors 0" in rows[0] and "errors 0" in rows[1], out
    assert "| clients | direct calls/s |" in out


def test_registry_benchmark_runs(tmp_path: Path) -> None:
    out = run("registry.py", cwd=tmp_path)
    assert "== sqlite" in out and "300 people ==" in out
    assert "read by ID, in process" in out and "HTTP read, raw, c=1, 1 worker" in out
    assert "goals:" in out


def test_signing_benchmark_runs(tmp_path: Path) -> None:
    report = last_json(run("signing.py", cwd=tmp_path))
    assert report["render_sign_1_workers"]["certificates"] == 2
    assert report["render_sign_1_workers"]["per_second"] > 0
    assert report["end_to_end"]["verified_valid"] == 1
