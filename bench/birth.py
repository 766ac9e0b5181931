"""N birth bundles submitted and processed through the service layer: server time per dossier (p50/p99)
and dossiers per second, with the certificate's share (rendering + PAdES signing, documents domain)
shown apart. Each dossier goes the citizen's way: a draft prefilled through the exchange, the birth
notice uploaded (a made-up PDF rendered inside the timing), the child's data, submission; then the three
agencies' approvals and the service tasks.

Usage (after `dgov init`): DGOV_DATA_DIR=/tmp/x .venv/bin/python bench/birth.py [N] [--smoke]

`--smoke` (tests/bench): two dossiers, only to show the benchmark still runs; the figures are printed,
not written to bench/results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from dgov.eservices import tasks
from dgov.eservices.workflow_demo import AN, birth_notice_pdf, citizen, load, process_bundle, submit_bundle
from dgov.kernel import clock
from dgov.kernel.config import get_settings
from dgov.web.runtime import Runtime

_certificate_ms: list[float] = []


def _time_certificates() -> None:
    """Instrument (not replace) the certificate handler to report its share of each dossier."""
    h = tasks.handler("birth.certificate")
    assert h is not None
    inner = h.fn

    async def timed(services: Any, step: tasks.Step) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            return await inner(services, step)
        finally:
            _certificate_ms.append((time.perf_counter() - t0) * 1000)

    tasks._handlers["birth.certificate"] = replace(h, fn=timed)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(len(s) * q))], 1)


async def main(n: int, *, write: bool = True) -> None:
    load_before = os.getloadavg()
    if write and load_before[0] > 1.0:
        print("WARNING: the machine is busy (1-min load > 1.0): run this benchmark alone for figures")
    _time_certificates()
    rt = Runtime.build(get_settings())
    try:
        await load(rt)
        times = []
        start = time.perf_counter()
        birth_notice_pdf()  # WeasyPrint's first call loads its fonts once
        for i in range(n):
            t0 = time.perf_counter()
            d = await submit_bundle(rt, citizen(AN), AN, "Nguyễn Văn An", i)
            await process_bundle(rt, d.id)
            times.append((time.perf_counter() - t0) * 1000)
        total = time.perf_counter() - start
    finally:
        await rt.close()
    without = [t - c for t, c in zip(times, _certificate_ms, strict=True)]
    out = {
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "n": n,
        "database": rt.settings.db_url.split(":", 1)[0],
        "p50_ms": round(statistics.median(times), 1),
        "p99_ms": _pct(times, 0.99),
        "dossiers_per_s": round(n / total, 2),
        "certificate_p50_ms": round(statistics.median(_certificate_ms), 1),
        "without_certificate_p50_ms": round(statistics.median(without), 1),
        "without_certificate_p99_ms": _pct(without, 0.99),
        "note": (
            "prefilled draft + upload + submit + 3 approvals + registry writes + signed certificate;"
            " sequential, one process; the made-up birth notice PDF is rendered inside the timing"
        ),
    }
    print(json.dumps(out))
    if not write:
        return
    path = Path(__file__).parent / "results" / f"birth-{clock.now():%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", default=None, help="dossiers (default 20; 2 with --smoke)")
    ap.add_argument("--smoke", action="store_true", help="two dossiers, nothing written")
    args = ap.parse_args()
    asyncio.run(main(args.n or (2 if args.smoke else 20), write=not args.smoke))
