"""Registries benchmark: load rate, database size, point reads (in process and over HTTP) and searches.

    .venv/bin/python bench/registry.py [--people N] [--db sqlite|postgresql|both] [--seconds S]

For each database: a fresh one (a SQLite file in a temporary directory, or a PostgreSQL database created
on 127.0.0.1 and dropped afterwards), migrated to head; N synthetic people generated with
`dgov.registries.generate` (seed 1); then
- point reads of population records by personal ID number, random keys drawn from the loaded data,
  in process through `engine.read`;
- searches in process (folded name + birth year, name + province, name prefixes) with names sampled
  from the data (on SQLite also before ANALYZE, as shipped);
- over HTTP against a real `dgov serve` subprocess on a free loopback port, with one and with two
  worker processes: GovStack's `GET /data/population/1/read?key=…` with a client-credentials bearer
  token (each read written to the person's access log, as in production) at several concurrencies and
  with two load generators (httpx, and a minimal raw client that leaves the cores to the server), then
  `exists` (the same lookup without the log), `/healthz` (the framework's floor) and a search; with the
  CPU each side used, since client, server and database share the machine.

Every loop is bounded in count and in time; all traffic goes to 127.0.0.1. The figures are printed as a
table and written to `bench/results/registry-<db>-<N>.json`.

`--smoke` (tests/bench): 300 people on SQLite, loops bounded to a fraction of a second, one server
worker, the minimal client; only to show the benchmark still runs. The JSON goes to a temporary
directory, not bench/results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from sqlalchemy import select, text

from dgov.identity import SYSTEM
from dgov.identity.clients import add_client
from dgov.identity.context import IdentityContext
from dgov.kernel import clock, migrate
from dgov.kernel.config import Settings
from dgov.registries import engine
from dgov.registries.generate import generate
from dgov.registries.models import records
from dgov.web.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("DGOV_BENCH_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_URL = os.environ.get("DGOV_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
HOST = "127.0.0.1"
SEED = 1
CLIENT_ID = "bench-reader"
SCOPE = "registry.population.read"
PURPOSE = "Benchmark"  # every HTTP read states a purpose (it goes to the access log)
# Keys kept for drawing reads (reservoir-sampled from every population key), and people for searches.
KEY_SAMPLE = 200_000
SEARCH_SAMPLE = 2_000

GOAL_LOAD = 200_000  # people per second
GOAL_HTTP_READS = {"sqlite": 5_000, "postgresql": 3_000}  # reads per second over HTTP
GOAL_SEARCH_P99_MS = 60.0  # at 10 M people


# --- measuring ----------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (milliseconds in, milliseconds out); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Series:
    """Latencies of one bounded loop."""

    label: str
    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    per_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self, latencies: list[float], seconds: float) -> Series:
        self.count = len(latencies)
        self.seconds = round(seconds, 3)
        self.p50_ms = round(pct(latencies, 50), 3)
        self.p99_ms = round(pct(latencies, 99), 3)
        self.max_ms = round(max(latencies, default=0.0), 3)
        self.per_s = round(self.count / seconds, 1) if seconds else 0.0
        # Other work on the machine skews every figure: the 1-minute load average as the loop ended.
        self.extra["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return self


async def sequential(
    label: str, items: list[Any], op: Callable[[Any], Awaitable[Any]], *, count: int, seconds: float
) -> tuple[Series, list[Any]]:
    """`op` over items in turn, one at a time, until `count` calls or `seconds` have passed."""
    latencies: list[float] = []
    results: list[Any] = []
    started = time.perf_counter()
    deadline = started + seconds
    for i in range(count):
        t = time.perf_counter()
        if t >= deadline:
            break
        results.append(await op(items[i % len(items)]))
        latencies.append((time.perf_counter() - t) * 1000)
    return Series(label).finish(latencies, time.perf_counter() - started), results


def _proc_cpu(pid: int | str) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu(database: str | None) -> dict[str, float]:
    """CPU seconds of each PostgreSQL backend serving `database` (from their process titles)."""
    out: dict[str, float] = {}
    if not database:
        return out
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            title = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres: ") and f" {database} " in title:
                out[d.name] = _proc_cpu(d.name)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def cpu_by_process(pid: int) -> dict[int, float]:
    """User + system CPU of a process and each descendant still alive (uvicorn's workers), from /proc."""
    out: dict[int, float] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            out[p] = _proc_cpu(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


# --- the databases --------------------------------------------------------------------------------------


@dataclass
class Target:
    kind: str  # sqlite | postgresql
    url: str
    tmp: Path
    pg_name: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.tmp / "var"


def create_target(kind: str) -> Target:
    tmp = Path(tempfile.mkdtemp(prefix=f"dgov-bench-{kind}-"))
    (tmp / "var").mkdir()
    if kind == "sqlite":
        return Target(kind, f"sqlite+aiosqlite:///{tmp / 'var' / 'dgov.sqlite3'}", tmp)
    name = f"dgov_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return Target(kind, f"{PG_URL}/{name}", tmp, pg_name=name)


def drop_target(t: Target) -> None:
    if t.pg_name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{t.pg_name}" WITH (FORCE)')
    shutil.rmtree(t.tmp, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def settings_for(t: Target, port: int, secret: str) -> tuple[Settings, dict[str, str]]:
    """The node's settings, for this process and (as DGOV_* variables) for the `dgov serve` child."""
    env = {
        "DGOV_ENV": "prod",
        "DGOV_DATA_DIR": str(t.data_dir),
        "DGOV_DATABASE_URL": t.url,
        "DGOV_HOST": HOST,
        "DGOV_PORT": str(port),
        # The issuer on the loopback address: Authlib accepts plain http only there.
        "DGOV_PUBLIC_URL": f"http://{HOST}:{port}",
        "DGOV_SECRET_KEY": secret,
        "DGOV_ASSETS_DIR": str(ROOT / "node_modules"),
        "DGOV_NODE_NAME": "bench",
    }
    settings = Settings(
        env="prod",
        data_dir=t.data_dir,
        database_url=t.url,
        host=HOST,
        port=port,
        public_url=env["DGOV_PUBLIC_URL"],
        secret_key=SecretStr(secret),
        assets_dir=ROOT / "node_modules",
        node_name="bench",
    )
    return settings, env


async def database_size(rt: Runtime, t: Target) -> dict[str, int]:
    if t.kind == "postgresql":
        async with rt.db.uow(readonly=True) as uow:
            total = await uow.session.scalar(text("SELECT pg_database_size(current_database())"))
            table = await uow.session.scalar(text("SELECT pg_total_relation_size('registry_records')"))
        return {"database_bytes": int(total or 0), "registry_records_bytes": int(table or 0)}
    path = t.data_dir / "dgov.sqlite3"
    # Fold the write-ahead log into the file so that its size is the database's (outside any transaction).
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return {"database_bytes": path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)}


def sqlite_analyze(t: Target) -> float:
    """Sampled statistics (`analysis_limit`, as SQLite recommends for large tables); seconds taken."""
    started = time.perf_counter()
    with closing(sqlite3.connect(t.data_dir / "dgov.sqlite3")) as conn:
        conn.execute("PRAGMA analysis_limit=1000")
        conn.execute("ANALYZE")
        conn.commit()
    return round(time.perf_counter() - started, 2)


async def sample_people(rt: Runtime, n_keys: int, n_people: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Keys drawn uniformly from every population record (reservoir sampling while streaming the
    (registry, key) index), and the search columns of some of them."""
    rng = random.Random(SEED)
    keys: list[str] = []
    seen = 0
    async with rt.db.uow(readonly=True) as uow:
        stream = await uow.session.stream_scalars(
            select(records.c.key)
            .where(records.c.registry == "population")
            .execution_options(yield_per=20_000)
        )
        async for key in stream:
            seen += 1
            if len(keys) < n_keys:
                keys.append(key)
            else:
                j = rng.randrange(seen)
                if j < n_keys:
                    keys[j] = key
        rng.shuffle(keys)
        people: list[dict[str, Any]] = []
        chosen = keys[:n_people]
        for i in range(0, len(chosen), 500):
            rows = await uow.session.execute(
                select(
                    records.c.key, records.c.name_norm, records.c.birth_year, records.c.province_code
                ).where(records.c.registry == "population", records.c.key.in_(chosen[i : i + 500]))
            )
            people.extend(r._asdict() for r in rows if r.name_norm)
    rng.shuffle(people)
    return keys, people


# --- phases -----------------------------------------------------------------------------------------


async def load(rt: Runtime, people: int) -> dict[str, Any]:
    step = max(1, people // 10)
    next_mark = step

    def progress(done: int) -> None:
        nonlocal next_mark
        if done >= next_mark or done == people:
            print(f"  … {done:,} people", file=sys.stderr, flush=True)
            next_mark = done + step

    started = time.perf_counter()
    stats = await generate(rt.db, people=people, seed=SEED, progress=progress)
    wall = time.perf_counter() - started
    rows = sum(stats.records.values())
    return {
        "people": stats.people,
        "rows": rows,
        "rows_by_registry": stats.records,
        "seconds": round(wall, 2),
        "generator_seconds": round(stats.seconds, 2),
        "people_per_s": round(stats.people / wall),
        "rows_per_s": round(rows / wall),
    }


async def in_process_reads(rt: Runtime, keys: list[str], count: int, seconds: float) -> Series:
    async def op(key: str) -> None:
        async with rt.db.uow(readonly=True) as uow:
            view = await engine.read(uow.session, "population", key)
        if view is None:
            raise RuntimeError(f"population record {key} not found")

    series, _ = await sequential("engine.read", keys, op, count=count, seconds=seconds)
    return series


def search_forms(person: dict[str, Any]) -> dict[str, dict[str, Any]]:
    words = person["name_norm"].split()
    given = words[-1]
    return {
        "name + birth year": {"name": person["name_norm"], "birth_year": person["birth_year"]},
        "name + province": {"name": person["name_norm"], "province": person["province_code"]},
        # A clerk typing the family and middle names and the start of the given name.
        "name prefix": {"name": " ".join([*words[:-1], given[:2]]) + "*"},
        # The widest prefix in use: family and first middle name only ("nguyen van*").
        "broad prefix": {"name": " ".join(words[:2]) + "*"},
    }


async def searches(rt: Runtime, people: list[dict[str, Any]], count: int, seconds: float) -> list[Series]:
    out = []
    for form in search_forms(people[0]):
        queries = [search_forms(p)[form] for p in people]

        async def op(q: dict[str, Any]) -> int:
            async with rt.db.uow(readonly=True) as uow:
                return len(await engine.search(uow.session, "population", **q, limit=20))

        series, found = await sequential(form, queries, op, count=count, seconds=seconds)
        series.extra["mean_results"] = round(sum(found) / len(found), 2) if found else 0
        series.extra["example"] = queries[0]
        out.append(series)
    return out


# --- HTTP -----------------------------------------------------------------------------------------------


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=log.parent,  # no stray .env is picked up
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, ended as a whole by `Server.__aexit__`
        )


class Server:
    """`dgov serve` in its own process group on a loopback port, logging to a file."""

    def __init__(self, env: dict[str, str], port: int, workers: int, log: Path) -> None:
        self.env, self.port, self.workers, self.log = env, port, workers, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Server:
        dgov = Path(sys.executable).with_name("dgov")
        cmd = [str(dgov), "serve", "--host", HOST, "--port", str(self.port), "--workers", str(self.workers)]
        self.proc = _spawn(cmd, {**os.environ, **self.env}, self.log)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.port}", timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"dgov serve exited ({self.proc.returncode}); see {self.log}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"dgov serve did not become ready in 60 s; see {self.log}")

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # the group we started: uvicorn and its workers
        for _ in range(150):
            if proc.poll() is not None:
                return
            await asyncio.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def register_client(rt: Runtime, settings: Settings) -> str:
    ctx = IdentityContext(db=rt.db, secret=rt.secret, issuer=settings.issuer)
    new = await add_client(
        ctx,
        SYSTEM,
        client_id=CLIENT_ID,
        name="Benchmark reader",
        scopes=(SCOPE,),
        grant_types=("client_credentials",),
    )
    assert new.secret
    return str(new.secret)


async def access_token(base: str, client_secret: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=(CLIENT_ID, client_secret),
        )
        if r.status_code != 200:
            raise RuntimeError(f"token request failed: {r.status_code} {r.text}")
        return str(r.json()["access_token"])


class RawClient:
    """A minimal HTTP/1.1 keep-alive client for GETs (Content-Length bodies only): about a tenth of
    httpx's CPU per request, so that the load generator takes less of the cores the server needs."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, url: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {url} HTTP/1.1\r\n{self.head}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the raw client")
        await self.reader.readexactly(length)
        return status

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()


class HttpxClient:
    """httpx.AsyncClient on one keep-alive connection. One client per connection rather than one shared
    pool: httpx's pool costs the client about 3 ms of CPU per request at 64 connections (0.8 ms at one),
    CPU the server then lacks on this machine."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(
            base_url=base, headers=headers, limits=httpx.Limits(max_connections=1), timeout=30
        )

    async def get(self, url: str) -> int:
        return (await self.http.get(url)).status_code

    async def aclose(self) -> None:
        await self.http.aclose()


async def http_load(
    port: int,
    token: str,
    urls: list[str],
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    server_pid: int,
    label: str,
    client: str = "httpx",
    database: str | None = None,
) -> Series:
    """`concurrency` clients, each on its own keep-alive connection, each sending its next request as
    soon as the previous answer is in, until `seconds` or `max_requests`."""
    headers = {"Authorization": f"Bearer {token}", "X-Dgov-Purpose": PURPOSE}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    rng = random.Random(concurrency)
    clients: list[RawClient | HttpxClient] = [
        RawClient(HOST, port, headers) if client == "raw" else HttpxClient(f"http://{HOST}:{port}", headers)
        for _ in range(concurrency)
    ]
    try:
        # Warm-up (not measured). The connections are opened one after the other: opened in one burst,
        # uvicorn's workers (which share the listening socket) let one of them accept nearly all.
        for c in clients:
            await c.get(urls[rng.randrange(len(urls))])
            await asyncio.sleep(0.005)
        for _ in range(3):
            await asyncio.gather(*(c.get(urls[rng.randrange(len(urls))]) for c in clients))
        cpu_server0, cpu_client0 = cpu_by_process(server_pid), time.process_time()
        cpu_db0 = backend_cpu(database)
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(http: RawClient | HttpxClient) -> None:
            nonlocal sent
            while sent < max_requests and time.perf_counter() < deadline:
                sent += 1
                url = urls[rng.randrange(len(urls))]
                t = time.perf_counter()
                try:
                    status = await http.get(url)
                except (httpx.TransportError, OSError, asyncio.IncompleteReadError) as exc:
                    # Counted, not fatal (the figures say how many); the raw client reconnects.
                    name = type(exc).__name__
                    errors[name] = errors.get(name, 0) + 1
                    if isinstance(http, RawClient):
                        await http.aclose()
                        http.writer = None
                    continue
                if status == 200:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1

        await asyncio.gather(*(worker(c) for c in clients))
        elapsed = time.perf_counter() - started
        per_process = {p: v - cpu_server0.get(p, 0.0) for p, v in cpu_by_process(server_pid).items()}
        cpu_server, cpu_client = sum(per_process.values()), time.process_time() - cpu_client0
        cpu_db = sum(v - cpu_db0.get(k, 0.0) for k, v in backend_cpu(database).items())
    finally:
        for c in clients:
            await c.aclose()
    series = Series(label).finish(latencies, elapsed)
    series.errors = sum(errors.values())
    done = max(len(latencies), 1)
    series.extra |= {
        "concurrency": concurrency,
        "client": client,
        "errors_by_status": errors,
        # All share the machine's cores: how much of them each side used (1.0 = one core busy).
        "server_cores": round(cpu_server / elapsed, 2),
        # Per process (with several workers: is the load spread over them?).
        "server_cores_by_process": [round(v / elapsed, 2) for v in per_process.values()],
        "client_cores": round(cpu_client / elapsed, 2),
        # PostgreSQL's backends for this database (SQLite works inside the server's processes).
        "database_cores": round(cpu_db / elapsed, 2) if database else None,
        "server_cpu_ms_per_request": round(cpu_server * 1000 / done, 2),
        "client_cpu_ms_per_request": round(cpu_client * 1000 / done, 2),
        "database_cpu_ms_per_request": round(cpu_db * 1000 / done, 2) if database else None,
    }
    return series


async def http_phase(
    rt: Runtime,
    settings: Settings,
    env: dict[str, str],
    t: Target,
    keys: list[str],
    people: list[dict[str, Any]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    client_secret = await register_client(rt, settings)
    read_urls = [f"/data/population/1/read?key={k}" for k in keys]
    search_urls = [
        f"/data/population/1/read?name={p['name_norm'].replace(' ', '+')}&birth_year={p['birth_year']}"
        for p in people
    ]
    exists_urls = [f"/data/population/1/exists?key={k}" for k in keys]
    # (kind, client, urls, concurrency). Reads with every client asked for; then, with the lightest
    # client: `exists` does the same token check and key lookup as `read` but writes nothing (which
    # separates the access-log commit from the rest), /healthz is the framework's floor, and a search.
    top = max(args.concurrency)
    light = "raw" if "raw" in args.clients else args.clients[0]
    plan = [
        *(("read", cl, read_urls, c) for cl in args.clients for c in args.concurrency),
        ("exists", light, exists_urls, top),
        ("healthz", light, ["/healthz"], top),
        ("search", light, search_urls, 16),
    ]
    names = {
        "read": "read",
        "exists": "exists (no access log)",
        "healthz": "/healthz (no database)",
        "search": "search name + birth year",
    }
    out: list[dict[str, Any]] = []
    for workers in args.workers:
        port = int(env["DGOV_PORT"])
        async with Server(env, port, workers, t.tmp / "serve.log") as server:
            assert server.proc is not None
            token = await access_token(f"http://{HOST}:{port}", client_secret)
            for kind, cl, urls, c in plan:
                label = f"HTTP {names[kind]}, {cl}, c={c}, {workers} worker{'s' if workers > 1 else ''}"
                print(f"  {label} …", file=sys.stderr, flush=True)
                s = await http_load(
                    port,
                    token,
                    urls,
                    concurrency=c,
                    seconds=args.seconds,
                    max_requests=args.max_requests,
                    server_pid=server.proc.pid,
                    label=label,
                    client=cl,
                    database=t.pg_name,
                )
                out.append({"kind": kind, "workers": workers, **asdict(s)})
    return out


# --- one database, start to end ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "git_commit": commit,
    }


async def run_database(t: Target, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    settings, env = settings_for(t, port, secrets.token_urlsafe(32))
    rt = Runtime.build(settings)
    result: dict[str, Any] = {"database": t.kind, "people": args.people}
    try:
        async with rt.db.uow(readonly=True) as uow:
            version = await uow.session.scalar(
                text("SELECT version()" if t.kind == "postgresql" else "SELECT sqlite_version()")
            )
        result["database_version"] = str(version).split(" on ")[0]
        print(f"[{t.kind}] generating {args.people:,} people …", file=sys.stderr, flush=True)
        result["load"] = await load(rt, args.people)
        if t.kind == "postgresql":
            # Planner statistics for the fresh table (autovacuum would gather them within a minute).
            started = time.perf_counter()
            async with rt.db.uow() as uow:
                await uow.session.execute(text("ANALYZE"))
                await uow.commit()
            result["load"]["analyze_seconds"] = round(time.perf_counter() - started, 2)
        result["size"] = await database_size(rt, t)
        result["size"]["bytes_per_person"] = round(result["size"]["database_bytes"] / max(args.people, 1))
        keys, people = await sample_people(rt, KEY_SAMPLE, SEARCH_SAMPLE)
        print(f"[{t.kind}] in-process reads and searches …", file=sys.stderr, flush=True)
        result["reads_in_process"] = asdict(await in_process_reads(rt, keys, args.max_requests, args.seconds))
        if t.kind == "sqlite":
            # As shipped, nothing gathers SQLite's planner statistics: measure that, then ANALYZE.
            found = await searches(rt, people, args.searches, args.seconds)
            result["search_without_statistics"] = [asdict(s) for s in found]
            result["load"]["analyze_seconds"] = sqlite_analyze(t)
            if rt.db.engine is not None:
                await rt.db.engine.dispose()  # pooled connections would keep the plans they had
        result["search"] = [asdict(s) for s in await searches(rt, people, args.searches, args.seconds)]
        if not args.no_http:
            result["http"] = await http_phase(rt, settings, env, t, keys, people, args)
    finally:
        await rt.close()
    result["goals"] = goals(result)
    return result


def goals(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rate = r.get("load", {}).get("people_per_s", 0)
    out["load >= 200k people/s"] = {"measured": rate, "met": rate >= GOAL_LOAD}
    reads = [h for h in r.get("http", []) if h["kind"] == "read"]
    if reads:
        best = max(reads, key=lambda h: h["per_s"])
        goal = GOAL_HTTP_READS[r["database"]]
        out[f"HTTP reads >= {goal:,}/s"] = {
            "measured": best["per_s"],
            "at": f"{best['extra']['client']} client, concurrency {best['extra']['concurrency']}, "
            f"{best['workers']} worker(s)",
            "met": best["per_s"] >= goal,
        }
    worst = max((s["p99_ms"] for s in r.get("search", [])), default=0.0)
    out["search p99 <= 60 ms"] = {
        "measured_ms": worst,
        "people": r["people"],
        "met_at_this_size": worst <= GOAL_SEARCH_P99_MS,
        "note": "the goal is stated at 10 M people" if r["people"] < 10_000_000 else "",
    }
    return out


# --- output -----------------------------------------------------------------------------------------


def _http_tail(h: dict[str, Any]) -> str:
    """What an HTTP row adds: the cores each side used, and the errors by status."""
    x = h["extra"]
    tail = f"  cores: server {x['server_cores']} client {x['client_cores']}"
    if len(x["server_cores_by_process"]) > 1:
        tail += f" (by process {x['server_cores_by_process']})"
    if x.get("database_cores") is not None:
        tail += f" db {x['database_cores']}"
    if h["errors"]:
        tail += f"  errors {x['errors_by_status']}"
    return tail


def table(r: dict[str, Any]) -> str:
    lines = [f"\n== {r['database']} ({r.get('database_version', '')}), {r['people']:,} people =="]
    ld = r.get("load")
    if ld:
        lines.append(
            f"load      {ld['people_per_s']:>10,} people/s   {ld['rows_per_s']:>10,} rows/s   "
            f"({ld['rows']:,} rows in {ld['seconds']} s)"
        )
        lines.append("          rows: " + ", ".join(f"{k} {v:,}" for k, v in ld["rows_by_registry"].items()))
    sz = r.get("size")
    if sz:
        lines.append(
            f"size      {sz['database_bytes'] / 2**20:>10,.1f} MiB   "
            f"({sz['bytes_per_person']:,} bytes per person)"
        )
    head = f"{'':<58} {'count':>8} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    lines.append(head)

    def row(s: dict[str, Any], label: str, tail: str = "") -> None:
        lines.append(
            f"{label:<58} {s['count']:>8,} {s['per_s']:>9,.0f} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} "
            f"{s['max_ms']:>8.1f}{tail}"
        )

    if "reads_in_process" in r:
        row(r["reads_in_process"], "read by ID, in process (engine.read)")
    for s in r.get("search_without_statistics", []):
        row(s, f"search, no planner statistics: {s['label']}", f"  ~{s['extra']['mean_results']} found")
    for s in r.get("search", []):
        row(s, f"search, in process: {s['label']}", f"  ~{s['extra']['mean_results']} found")
    for h in r.get("http", []):
        row(h, h["label"], _http_tail(h))
    lines.append("goals:")
    for name, g in r["goals"].items():
        lines.append(f"  {name:<26} {json.dumps(g, ensure_ascii=False)}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, default=1_000_000, help="people to generate (default 1,000,000)")
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--seconds", type=float, default=10.0, help="time bound of each measured loop")
    p.add_argument("--max-requests", type=int, default=1_000_000, help="count bound of each read loop")
    p.add_argument("--searches", type=int, default=2_000, help="count bound of each search loop")
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    p.add_argument(
        "--clients",
        type=lambda s: s.split(","),
        default=["httpx", "raw"],
        help="HTTP load generators for reads: httpx, raw (a minimal client) or both (default)",
    )
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--no-http", action="store_true", help="skip the HTTP phase")
    p.add_argument("--keep", action="store_true", help="keep the database and temporary directory")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON results go")
    p.add_argument("--smoke", action="store_true", help="seconds, tiny sizes, results in a temp dir")
    if p.parse_known_args(argv)[0].smoke:
        p.set_defaults(
            people=300,
            db="sqlite",
            seconds=0.3,
            max_requests=50,
            searches=10,
            concurrency=[1, 2],
            clients=["raw"],
            workers=[1],
            out=Path(tempfile.mkdtemp(prefix="dgov-bench-registry-smoke-")),
        )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        t = create_target(kind)
        try:
            started = time.perf_counter()
            migrate.upgrade(t.url)
            migrate_s = time.perf_counter() - started
            result = asyncio.run(run_database(t, args))
            result["migrate_seconds"] = round(migrate_s, 2)
            result["machine"] = machine()
            result["command"] = " ".join([".venv/bin/python", "bench/registry.py", *(argv or sys.argv[1:])])
            result["finished_at"] = clock.now().isoformat(timespec="seconds")
            print(table(result), flush=True)
            path = args.out / f"registry-{kind}-{args.people}.json"
            path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"written: {path}", flush=True)
        finally:
            if args.keep:
                print(f"kept: {t.tmp} {t.pg_name or ''}", file=sys.stderr)
            else:
                drop_target(t)
    if args.smoke:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
