"""`dgov` starts without importing what the command does not use (issue 11: a fast CLI).

The root group imports each sub-command's module only when it runs; `dgov --help` lists them from the
lazy table in dgov.cli, which must therefore stay in step with the modules themselves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from dgov import cli
from dgov.domains import domain_modules

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "starlette", "pyhanko", "weasyprint", "sqlalchemy", "alembic", "uvicorn", "SpiffWorkflow")


def imported_by(*args: str) -> set[str]:
    """Top-level packages a real `python -m dgov ARGS` process imports (from `-X importtime`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dgov", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", proc.stderr, re.MULTILINE)
    assert names, "no -X importtime output"
    return {n.split(".")[0] for n in names}


def test_version_imports_no_framework_no_database_no_pdf_library() -> None:
    assert imported_by("version") & set(HEAVY) == set()


def test_help_imports_no_domain_and_lists_every_sub_command() -> None:
    assert imported_by("--help") & set(HEAVY) == set()
    result = CliRunner().invoke(cli.app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, entry in cli.COMMANDS.items():
        assert re.search(rf"│ {name} +{re.escape(entry.help)}", result.output), name
    assert re.search(r"│ version +Print the dgov version\.", result.output)


def test_documents_verify_pays_for_pyhanko_but_not_the_renderer_or_the_web_framework() -> None:
    used = imported_by("documents", "verify", "--help")
    assert "pyhanko" in used
    assert used & {"weasyprint", "fastapi", "starlette", "uvicorn", "SpiffWorkflow"} == set()


def test_the_lazy_table_matches_the_modules_it_names() -> None:
    """Every domain with a `cli` module is listed, each entry's help is the help its module declares,
    and each loads to the command Typer would have mounted."""
    assert {name for name, _m in domain_modules("cli")} <= set(cli.COMMANDS)
    root = typer.main.get_command(cli.app)
    assert isinstance(root, cli.LazyGroup)
    ctx = typer.Context(root)
    for name, entry in cli.COMMANDS.items():
        loaded = root.get_command(ctx, name)
        assert loaded is not None and loaded.name == name
        declared = (loaded.help or "").strip().splitlines()[0] if loaded.help else ""
        assert declared == entry.help, (name, declared, entry.help)
        if entry.command is None:
            assert isinstance(loaded, TyperGroup)


def test_a_mistyped_sub_command_is_refused_with_a_suggestion_among_the_lazy_ones() -> None:
    result = CliRunner().invoke(cli.app, ["registry"])
    assert result.exit_code == 2
    assert "No such command 'registry'" in result.output and "'registries'" in result.output


@pytest.mark.slow
def test_bench_smoke_runs_every_measured_command() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/cli.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "smoke: 4 commands ran and succeeded" in proc.stdout
    assert "load average before:" in proc.stdout
