"""Exchange benchmark: a person read through the gateway (RFC 9421-signed request and response, nonce
check, message log, access log) versus the same read called directly (GovStack `/data` API with a
bearer token, access log), over loopback HTTP against a real `dgov serve`.

    .venv/bin/python bench/exchange.py [--seconds S] [--people N] [--workers W] [--concurrency 1,50,500]
                                       [--db sqlite|postgresql] [--smoke]

`--smoke` (tests/bench): tiny sizes and half-second loops, only to show the benchmark still runs; its
figures are printed, never written to bench/results or docs.

Setup (in process, on a fresh database): N people in the population registry, the police's
CSDLQGDC subsystem publishing the population service, a justice application VN/GOV/BTP/BENCH with an
Ed25519 key held by this script and the right to read population, and an OAuth client for the direct
path. Then for each concurrency C, C keep-alive connections each send requests back to back for S
seconds: every gateway request is freshly signed (new nonce) by the client, and its response's
signature is checked for the first request of each connection. Figures: calls/s, p50 and p99 latency,
and the gateway's overhead (gateway p50 − direct p50). Printed as a table, written to
`bench/results/exchange-<db>.json`, and appended to docs/exchange.md under "Exchange".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from dgov.exchange import directory, directory_rights, httpsig, register_node_subsystem, registry_services
from dgov.exchange.client import Signer, verify_response
from dgov.identity import SYSTEM
from dgov.identity.clients import add_client
from dgov.identity.context import IdentityContext
from dgov.kernel import clock, migrate
from dgov.kernel.config import Settings
from dgov.registries import RegistriesContext, create_record
from dgov.web.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "exchange.md"
HOST = "127.0.0.1"
PG_ADMIN = os.environ.get("DGOV_BENCH_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_URL = os.environ.get("DGOV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
CLIENT = "VN/GOV/BTP/BENCH"
SERVICE = "VN/GOV/BCA/CSDLQGDC/population"
PURPOSE = "Benchmark"
OAUTH_ID = "bench-exchange"
GOAL_CALLS = 2_000
GOAL_OVERHEAD_MS = 2.0
GOAL_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def id_number(i: int) -> str:
    return f"0010900{i:05d}"


async def setup(settings: Settings, people: int) -> tuple[Ed25519PrivateKey, str, str]:
    rt = Runtime.build(settings)
    try:
        ctx = RegistriesContext(db=rt.db)
        for i in range(people):
            await create_record(
                ctx,
                SYSTEM,
                "population",
                {
                    "id_number": id_number(i),
                    "surname": "Nguyễn",
                    "middle_name": "Văn",
                    "given_name": f"An{i}",
                    "full_name": f"Nguyễn Văn An{i}",
                    "birth_date": "1990-03-15",
                    "sex": "M",
                    "nationality": "VN",
                    "status": "alive",
                    "permanent_address": {
                        "street": "1 Phố Đội Cấn",
                        "commune_code": "00004",
                        "province_code": "01",
                    },
                },
            )
        await directory.add_member(
            rt.db, SYSTEM, instance="VN", member_class="GOV", code="BCA", name="Bộ Công an"
        )
        await register_node_subsystem(rt, SYSTEM, member="GOV/BCA", code="CSDLQGDC")
        await registry_services.publish_all(rt.db, SYSTEM, instance="VN")
        await directory.add_member(
            rt.db, SYSTEM, instance="VN", member_class="GOV", code="BTP", name="Bộ Tư pháp"
        )
        key = Ed25519PrivateKey.generate()
        new = await directory.add_subsystem(
            rt.db,
            SYSTEM,
            member="GOV/BTP",
            code="BENCH",
            public_key_pem=httpsig.public_pem(key.public_key()),
            instance="VN",
        )
        await directory_rights.grant(rt.db, SYSTEM, client=CLIENT, service=SERVICE)
        ictx = IdentityContext(db=rt.db, secret=rt.secret, issuer=settings.issuer)
        oauth = await add_client(
            ictx,
            SYSTEM,
            client_id=OAUTH_ID,
            name="Benchmark",
            scopes=("registry.population.read",),
            grant_types=("client_credentials",),
        )
        assert oauth.secret
        return key, new.key_id, str(oauth.secret)
    finally:
        await rt.close()


class Raw:
    """A minimal keep-alive HTTP/1.1 GET client (Content-Length bodies): little client CPU, so the
    server keeps the cores it shares with the load generator."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n{head}\r\n".encode("latin-1"))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0][9:12])
        h: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                h[k.strip().lower()] = v.strip()
        body = await self.reader.readexactly(int(h.get("content-length", "0")))
        return status, h, body

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


async def run_load(
    port: int, conns: int, seconds: float, people: int, request: Any, node_key: httpsig.PublicKey | None
) -> dict[str, Any]:
    lat: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal errors
        c = Raw(port)
        i = w
        checked = False
        try:
            while time.monotonic() < stop:
                path, headers, signed = request(i % people)
                t0 = time.perf_counter()
                status, h, body = await c.get(path, headers)
                lat.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    errors += 1
                elif signed is not None and node_key is not None and not checked:
                    verify_response(node_key, signed, status, h, body)
                    checked = True
                i += conns
        finally:
            await c.aclose()

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(conns)))
    elapsed = time.monotonic() - started
    return {
        "concurrency": conns,
        "calls": len(lat),
        "errors": errors,
        "calls_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(pct(lat, 0.5), 2),
        "p99_ms": round(pct(lat, 0.99), 2),
    }


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    dgov = Path(sys.executable).with_name("dgov")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(dgov), "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dgov serve exited; see {log}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=2).status_code == 200:
                return proc
        time.sleep(0.3)
    raise RuntimeError("dgov serve did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="dgov-bench-exchange-"))
    port = free_port()
    pg_name = None
    if args.db == "postgresql":
        pg_name = f"bench_exchange_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
            conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = f"{PG_URL}/{pg_name}"
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'dgov.sqlite3'}"
    secret = secrets.token_urlsafe(32)
    env = {
        "DGOV_DATA_DIR": str(tmp),
        "DGOV_DATABASE_URL": url,
        "DGOV_SECRET_KEY": secret,
        "DGOV_LOG_LEVEL": "WARNING",
        "DGOV_PUBLIC_URL": f"http://{HOST}:{port}",
        "DGOV_NODE_NAME": "bench",
    }
    settings = Settings(
        data_dir=tmp,
        database_url=url,
        secret_key=SecretStr(secret),
        public_url=f"http://{HOST}:{port}",
        node_name="bench",
        outbox_in_process=False,
    )
    migrate.upgrade(url)
    key, keyid, oauth_secret = await setup(settings, args.people)
    signer = Signer(CLIENT, key, keyid)
    proc = start_server(env, port, args.workers, tmp / "serve.log")
    try:
        base = f"http://{HOST}:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            tok = (
                await http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials", "scope": "registry.population.read"},
                    auth=(OAUTH_ID, oauth_secret),
                )
            ).json()["access_token"]
            node_key = httpsig.load_public_pem(
                (await http.get("/api/exchange/v1/node-key")).json()["public_key"]
            )
        direct_headers = {"Authorization": f"Bearer {tok}", "X-Dgov-Purpose": PURPOSE}

        def direct(i: int) -> tuple[str, dict[str, str], None]:
            return f"/data/population/1/read?key={id_number(i)}", direct_headers, None

        def gateway(i: int) -> tuple[str, dict[str, str], Any]:
            path = f"/r1/{SERVICE}/records/{id_number(i)}"
            signed = signer.sign("GET", base + path, purpose=PURPOSE)
            return path, signed.headers, signed

        rows = []
        for c in args.concurrency:
            d = await run_load(port, c, args.seconds, args.people, direct, None)
            g = await run_load(port, c, args.seconds, args.people, gateway, node_key)
            rows.append(
                {
                    "concurrency": c,
                    "direct": d,
                    "gateway": g,
                    "overhead_p50_ms": round(g["p50_ms"] - d["p50_ms"], 2),
                }
            )
            print(
                f"C={c:>4}  direct {d['calls_per_s']:>8}/s p50 {d['p50_ms']:>7} ms p99 {d['p99_ms']:>7} ms"
                f" | gateway {g['calls_per_s']:>8}/s p50 {g['p50_ms']:>7} ms p99 {g['p99_ms']:>7} ms"
                f" errors {g['errors']} | overhead p50 {rows[-1]['overhead_p50_ms']} ms",
                flush=True,
            )
    finally:
        stop_server(proc)
        if args.smoke:
            shutil.rmtree(tmp, ignore_errors=True)
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    load1 = os.getloadavg()
    return {
        "db": args.db,
        "workers": args.workers,
        "people": args.people,
        "seconds": args.seconds,
        "at": clock.now().isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_after": load1,
        "rows": rows,
        "goals": {
            "calls_per_s": GOAL_CALLS,
            "overhead_p50_ms": GOAL_OVERHEAD_MS,
            "p99_ms_at_500": GOAL_P99_MS,
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        "",
        f"### Exchange ({result['db']}, {result['workers']} worker(s), {result['at']})",
        "",
        f"`bench/exchange.py --db {result['db']} --workers {result['workers']} "
        f"--seconds {result['seconds']}` on {result['cpus']} CPUs (load average after the run: "
        f"{', '.join(f'{x:.1f}' for x in result['loadavg_after'])}; "
        "the machine is shared, so figures vary with what else runs).",
        "",
        "| clients | direct calls/s | direct p50 / p99 ms | gateway calls/s | gateway p50 / p99 ms "
        "| overhead p50 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        d, g = r["direct"], r["gateway"]
        lines.append(
            f"| {r['concurrency']} | {d['calls_per_s']} | {d['p50_ms']} / {d['p99_ms']} "
            f"| {g['calls_per_s']} | {g['p50_ms']} / {g['p99_ms']} | {r['overhead_p50_ms']} |"
        )
    lines.append("")
    lines.append(
        f"Goals: ≥ {GOAL_CALLS} signed + logged calls/s, overhead ≤ {GOAL_OVERHEAD_MS} ms p50, "
        f"p99 ≤ {GOAL_P99_MS} ms at 500 clients."
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--people", type=int, default=500)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 50, 500])
    p.add_argument("--smoke", action="store_true", help="seconds, tiny sizes, nothing written")
    if p.parse_known_args()[0].smoke:
        p.set_defaults(seconds=0.5, people=5, concurrency=[1, 2])
    args = p.parse_args()
    result = asyncio.run(main(args))
    if args.smoke:
        print(report(result))
        sys.exit(0)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"exchange-{args.db}-w{args.workers}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    text = report(result)
    print(text)
    if DOC.exists():
        with DOC.open("a", encoding="utf-8") as f:
            f.write(text)
    print(f"written {out}")
