"""Documents benchmark: certificates rendered and signed per second, and verifications per second.

    .venv/bin/python bench/signing.py [--count N] [--workers W] [--verify N]

A fresh SQLite node in a temporary directory, migrated, PKI initialised. Then:
- the stages of one certificate timed separately (HTML → PDF with WeasyPrint; PAdES B-LT signing with
  the node TSA and embedded revocation data; loading the agency's signing material);
- `issue_pdf` (render + sign, the CPU-bound part) in W worker processes over N birth certificates,
  each with its own name and document code: certificates per second;
- `store_issued` end to end (render, sign, blob, rows, wallets, audit, outbox) in one process;
- `verify` (pyHanko's validator against the node's PKI, plus the registry lookup) over N files.
Figures are printed and written to `bench/results/signing-<timestamp>.json`. No asserts on time.
`--smoke` (tests/bench): two certificates, one worker, one verification, only to show the benchmark
still runs; the figures are printed, not written.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dgov import pki  # noqa: E402
from dgov.documents import (  # noqa: E402
    documents_context,
    render,
    service,
    signing,
    store_issued,
    template,
    verify,
)
from dgov.identity import SYSTEM  # noqa: E402
from dgov.kernel import clock, migrate  # noqa: E402
from dgov.kernel.config import Settings  # noqa: E402
from dgov.pki import init_pki  # noqa: E402
from dgov.web.runtime import Runtime  # noqa: E402

NAMES = ["Nguyễn Minh Khang", "Trần Thị Ngọc Ánh", "Lê Hoàng Bảo Châu", "Phạm Đức Dũng", "Vũ Thị Hương"]


def data_for(i: int) -> dict[str, Any]:
    d = copy.deepcopy(template("birth-certificate").example)
    d["child"]["full_name"] = f"{NAMES[i % len(NAMES)]}"
    d["child"]["id_number"] = f"001216{i:06d}"
    d["registration"]["number"] = str(1000 + i)
    return d


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, env="test", log_json=False, outbox_in_process=False)


_worker: dict[str, Any] = {}


def _init_worker(data_dir: str) -> None:
    async def setup() -> None:
        rt = Runtime.build(settings_for(Path(data_dir)))
        _worker["rt"] = rt
        _worker["ctx"] = documents_context(rt.settings, rt.db)
        # Warm: fonts, the stamp font, the first WeasyPrint layout.
        t = template("birth-certificate")
        await service.issue_pdf(
            _worker["ctx"],
            t,
            data_for(0),
            agency=t.agency,
            code="TLKS-2026-WARMUP0000",
            issued_at=clock.now(),
        )

    _worker["loop"] = asyncio.new_event_loop()
    _worker["loop"].run_until_complete(setup())


def _issue_batch(indices: list[int]) -> tuple[int, float, float]:
    async def go() -> int:
        t = template("birth-certificate")
        total = 0
        for i in indices:
            pdf = await service.issue_pdf(
                _worker["ctx"],
                t,
                data_for(i),
                agency=t.agency,
                code=f"TLKS-2026-B{i:09d}",
                issued_at=clock.now(),
            )
            total += len(pdf)
        return total

    start, cpu = time.perf_counter(), time.process_time()
    size = _worker["loop"].run_until_complete(go())
    return size, time.perf_counter() - start, time.process_time() - cpu


def stage_timings(ctx: Any, rounds: int) -> dict[str, float]:
    async def go() -> dict[str, list[float]]:

        t = template("birth-certificate")
        out: dict[str, list[float]] = {
            "material_ms": [],
            "render_ms": [],
            "sign_ms": [],
            "render_cpu_ms": [],
            "sign_cpu_ms": [],
        }
        for i in range(rounds):
            a = time.perf_counter()
            material = await pki.signing_material(ctx.settings, ctx.db, t.agency)
            b, b_cpu = time.perf_counter(), time.process_time()
            issue = render.Issue(
                code=f"TLKS-2026-S{i:09d}",
                number="1",
                agency_name=material.agency_name,
                parent_agency="Thành phố Hà Nội",
                place="Hà Nội",
                issued_on=clock.local_today(),
                signer_title=t.signer_title,
                signer_name="",
            )
            pdf = render.render_pdf(t, data_for(i), issue, public_url="http://127.0.0.1:8000")
            c, c_cpu = time.perf_counter(), time.process_time()
            await signing.sign_pdf(
                pdf,
                material,
                signing.SignRequest(issue.code, "Trích lục khai sinh", material.agency_name, "Hà Nội"),
            )
            d, d_cpu = time.perf_counter(), time.process_time()
            out["render_cpu_ms"].append((c_cpu - b_cpu) * 1000)
            out["sign_cpu_ms"].append((d_cpu - c_cpu) * 1000)
            out["material_ms"].append((b - a) * 1000)
            out["render_ms"].append((c - b) * 1000)
            out["sign_ms"].append((d - c) * 1000)
        return out

    raw = asyncio.run(go())
    return {k: round(statistics.median(v), 1) for k, v in raw.items()}


async def _prepare(data_dir: Path) -> None:

    rt = Runtime.build(settings_for(data_dir))
    await init_pki(rt.settings, rt.db)
    await rt.close()


async def _store_and_verify(data_dir: Path, count: int, verify_count: int) -> dict[str, float]:
    rt = Runtime.build(settings_for(data_dir))
    ctx = documents_context(rt.settings, rt.db)
    t = template("birth-certificate")
    await store_issued(ctx, SYSTEM, template_name=t.name, data=data_for(0), holders=["001090012345"])
    start = time.perf_counter()
    pdfs = []
    for i in range(count):
        issued = await store_issued(
            ctx, SYSTEM, template_name=t.name, data=data_for(i), holders=["001090012345", "001192034567"]
        )
        pdfs.append(issued.pdf)
    store_s = time.perf_counter() - start
    await verify(ctx, pdfs[0])
    start = time.perf_counter()
    valid = 0
    cpu = time.process_time()
    for i in range(verify_count):
        v = await verify(ctx, pdfs[i % len(pdfs)])
        valid += v.valid
    verify_s = time.perf_counter() - start
    verify_cpu = time.process_time() - cpu
    await rt.close()
    return {
        "store_issued_per_s": round(count / store_s, 2),
        "verify_per_s": round(verify_count / verify_s, 2),
        "verify_ms": round(verify_s / verify_count * 1000, 1),
        "verify_per_cpu_second": round(verify_count / verify_cpu, 2),
        "verified_valid": valid,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=60, help="certificates to render and sign")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--verify", type=int, default=40, help="verifications")
    ap.add_argument("--store", type=int, default=10, help="store_issued calls (end to end, one process)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, nothing written")
    if ap.parse_known_args()[0].smoke:
        ap.set_defaults(count=2, workers=1, verify=1, store=1)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="dgov-bench-signing-") as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir()
        s = settings_for(data_dir)
        migrate.upgrade(s.db_url)
        asyncio.run(_prepare(data_dir))

        rt = Runtime.build(s)
        stages = stage_timings(documents_context(rt.settings, rt.db), rounds=1 if args.smoke else 6)
        asyncio.run(rt.close())

        results: dict[str, Any] = {"stages_median_ms_single_process": stages}
        for workers in sorted({1, args.workers}):
            chunks = [list(range(w, args.count, workers)) for w in range(workers)]
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(str(data_dir),)) as pool:
                list(pool.map(_issue_batch, [[0]] * workers))  # every worker warmed before the clock starts
                start = time.perf_counter()
                outs = list(pool.map(_issue_batch, chunks))
                wall = time.perf_counter() - start
            results[f"render_sign_{workers}_workers"] = {
                "certificates": args.count,
                "seconds": round(wall, 2),
                "per_second": round(args.count / wall, 2),
                "mean_pdf_bytes": int(sum(o[0] for o in outs) / args.count),
                # CPU the workers themselves used: on a machine shared with other work, certificates
                # per CPU-second × cores estimates what the node does when it has the cores to itself.
                "cpu_seconds": round(sum(o[2] for o in outs), 2),
                "per_cpu_second": round(args.count / sum(o[2] for o in outs), 2),
            }
        results["end_to_end"] = asyncio.run(_store_and_verify(data_dir, args.store, args.verify))

    report = {
        "benchmark": "signing",
        "at": clock.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load_average_at_start": os.getloadavg(),
        "goal": "≥ 20 certificates rendered and signed per second on 2 cores",
        **results,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if args.smoke:
        return
    out = ROOT / "bench" / "results" / f"signing-{clock.now().strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
