"""CLI start-up benchmark: how long an operator waits for `dgov` before it does anything.

    .venv/bin/python bench/cli.py [--runs N]      # the figures: minimum of N runs (default 5)
    .venv/bin/python bench/cli.py --smoke         # each command once; only checks that they succeed

Each command runs as the operator runs it, `python -m dgov …` in a fresh process, on a fresh SQLite
node in a temporary directory (`init --no-demo`, one person imported for `registries get`). The
figure is wall time, the minimum over the runs (the least disturbed by the other processes on a shared
machine); the load average is printed beside it because it moves the figures.

`documents verify`'s goal is not a fixed number: it may cost what pyHanko costs to import
(`python -c "import pyhanko…"`, measured here) on top of a database command such as `registries get`,
and nothing more (no WeasyPrint, no FastAPI; tests/cli/test_cli_startup.py checks the imports).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PERSON = "001090012345"
PEOPLE_CSV = (
    "id_number,surname,middle_name,given_name,full_name,birth_date,sex,nationality,status,"
    "permanent_address.street,permanent_address.commune_code,permanent_address.province_code\n"
    f"{PERSON},Nguyễn,Văn,An,Nguyễn Văn An,1990-03-15,M,VN,alive,1 Phố Đội Cấn,00004,01\n"
)
# A well-formed PDF without a signature: `verify` reads it with pyHanko and answers "not valid" (exit 1).
UNSIGNED_PDF = (
    b"%PDF-1.7\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PYHANKO_IMPORT = (
    "import pyhanko.sign.validation, pyhanko.pdf_utils.reader, pyhanko_certvalidator, "
    "pyhanko.pdf_utils.font.opentype, pyhanko.sign.signers"
)


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    goal: float | None  # seconds; None: derived from other figures (verify)
    ok_codes: tuple[int, ...] = (0,)


def cases(work: Path) -> list[Case]:
    return [
        Case("dgov version", ["version"], 0.3),
        Case("dgov --help", ["--help"], 0.6),
        Case(
            "dgov registries get population ID --json",
            ["registries", "get", "population", PERSON, "--json"],
            1.0,
        ),
        Case("dgov documents verify", ["documents", "verify", str(work / "unsigned.pdf")], None, (0, 1)),
    ]


def node_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(DGOV_DATA_DIR=str(work / "var"), DGOV_LOG_JSON="false", COLUMNS="120", NO_COLOR="1")
    return env


@dataclass(frozen=True)
class Run:
    wall: float  # seconds waited
    cpu: float  # user + system seconds of the process: what it costs, however busy the machine is


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path, ok_codes: tuple[int, ...]) -> Run:
    cpu, start = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return Run(elapsed, _children_cpu() - cpu)


def best(runs: list[Run]) -> Run:
    return Run(min(r.wall for r in runs), min(r.cpu for r in runs))


def prepare(work: Path, env: dict[str, str]) -> None:
    """A fresh node with one person, and a PDF to verify."""
    (work / "people.csv").write_text(PEOPLE_CSV, encoding="utf-8")
    (work / "unsigned.pdf").write_bytes(UNSIGNED_PDF)
    for args in (["init", "--no-demo"], ["registries", "import", "population", str(work / "people.csv")]):
        timed([sys.executable, "-m", "dgov", *args], env, work, (0,))


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per command; the minimum is reported")
    parser.add_argument("--smoke", action="store_true", help="run each command once, check it succeeds")
    args = parser.parse_args(argv)
    runs = 1 if args.smoke else max(1, args.runs)
    with tempfile.TemporaryDirectory(prefix="dgov-bench-cli-") as tmp:
        work = Path(tmp)
        env = node_env(work)
        prepare(work, env)
        print(f"load average before: {load_average()}")
        if not args.smoke and os.getloadavg()[0] > 1.0:
            print("WARNING: the machine is busy (1-min load > 1.0): run this benchmark alone for figures")
        # The baseline, measured in the same run: a bare interpreter that starts and exits. Every command
        # is also given as a multiple of it, so runs on machines of other speeds can be compared.
        baseline = best([timed([sys.executable, "-c", "pass"], env, work, (0,)) for _ in range(runs)])
        figures: dict[str, Run] = {}
        for case in cases(work):
            cmd = [sys.executable, "-m", "dgov", *case.args]
            figures[case.name] = best([timed(cmd, env, work, case.ok_codes) for _ in range(runs)])
        pyhanko = best([timed([sys.executable, "-c", PYHANKO_IMPORT], env, work, (0,)) for _ in range(runs)])
        print(f"load average after:  {load_average()}")
    if args.smoke:
        print(f"smoke: {len(figures)} commands ran and succeeded")
        return 0
    get = figures["dgov registries get population ID --json"]
    floor = Run(get.wall + pyhanko.wall, get.cpu + pyhanko.cpu)
    print(
        f"\n{'command (min of ' + str(runs) + ' runs)':44} {'goal':>8} {'wall':>8} {'ratio':>6}"
        f" {'cpu':>8} {'ratio':>6} {'x python':>9}"
    )
    print(
        f"{'python -c pass (baseline, same run)':44} {'':>8} {baseline.wall:7.2f}s {'':>6}"
        f" {baseline.cpu:7.2f}s"
    )
    for case in cases(Path(".")):
        fig = figures[case.name]
        goal = Run(case.goal, case.goal) if case.goal is not None else floor
        print(
            f"{case.name:44} {goal.wall:7.2f}s {fig.wall:7.2f}s {fig.wall / goal.wall:6.2f}"
            f" {fig.cpu:7.2f}s {fig.cpu / goal.cpu:6.2f} {fig.wall / baseline.wall:9.1f}"
        )
    print(
        f"\nverify's goal = registries get + importing pyHanko alone ({pyhanko.wall:.2f} s wall, "
        f"{pyhanko.cpu:.2f} s CPU). cpu = user + system time of the process; on a loaded machine the "
        "wall figure includes the time spent waiting for a core.\nx python = wall time / the bare "
        "interpreter's (its start-up, measured in this run)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
