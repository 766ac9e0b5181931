"""A harness for federation tests: real dgov nodes, each its own `dgov serve` process with its own data
directory and SQLite database on a loopback port, driven through the real command line.

    with Federation(tmp_path) as fed:
        central = fed.node("central")
        a = fed.node("agency-a")
        central.cli("exchange", "add-member", ...)
        ...
        fed.start_all()          # `dgov serve` for every node, waits until /healthz answers

Pub/sub tests reuse it the same way (events between nodes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    name: str
    home: Path
    port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
        env.update(
            DGOV_DATA_DIR=str(self.home / "var"),
            DGOV_NODE_NAME=self.name,
            DGOV_PORT=str(self.port),
            DGOV_HOST="127.0.0.1",
            DGOV_PUBLIC_URL=self.url,
            # Nodes deliver events to each other's inboxes over plain http on loopback.
            DGOV_EXCHANGE_WEBHOOK_ALLOW_HTTP="true",
            DGOV_EXCHANGE_WEBHOOK_ALLOW="127.0.0.1",
            DGOV_ASSETS_DIR=str(ROOT / "node_modules"),
            DGOV_LOG_LEVEL="WARNING",
            COLUMNS="250",
            NO_COLOR="1",
            **self.extra_env,
        )
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `dgov ARGS…` for this node (cwd is the node's home: no repository .env is read)."""
        proc = subprocess.run(
            [sys.executable, "-m", "dgov", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{self.name}: dgov {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def start(self) -> None:
        log = (self.home / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dgov", "serve"],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {(self.home / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not answer on {self.url}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


class Federation:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: dict[str, Node] = {}

    def node(self, name: str, **extra_env: str) -> Node:
        """A new node with an initialised data directory (migrated, keys made, no demo data)."""
        home = self.root / name
        home.mkdir(parents=True)
        node = Node(name, home, free_port(), dict(extra_env))
        node.cli("init", "--no-demo")
        self.nodes[name] = node
        return node

    def start_all(self) -> None:
        for n in self.nodes.values():
            if n.process is None:
                n.start()
        for n in self.nodes.values():
            n.wait_ready()

    def __enter__(self) -> Federation:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for n in self.nodes.values():
            n.stop()
