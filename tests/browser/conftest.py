"""Browser harness: the real server in a subprocess, driven by the machine's Chromium through Playwright.

The server is started as an operator would (`python -m dgov serve`) on a copy of the run's demo node (the
data directory `python -m dgov init` made once for the whole run, tests/conftest.py), so these tests see
migrations, demo data, middleware and vendored assets as they ship. Playwright never downloads a browser:
it launches the Debian Chromium. Without Chromium the tests skip, except under CI=true where a missing
browser is a failure.

Under pytest-xdist every browser test is in one group (`xdist_group("browser")`, added in
tests/conftest.py): one worker runs them all against one server and one Chromium, and the TOTP book
(totpcodes.py) knows every code that server accepted.

The async API, not the sync one: Playwright's sync API keeps its own event loop marked as running in
the main thread for as long as it is open, so every async test that pytest ran after a session-scoped
sync browser failed with "cannot be called from a running event loop". The async API shares
pytest-asyncio's session loop instead, whatever order the tests run in.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pagelog import CSP_RECORDER, PageLog
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from totpcodes import TotpCodes

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
STARTUP_TIMEOUT = 180.0  # seconds for /healthz to answer
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dgov serve exited with {proc.returncode} before answering:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"dgov serve did not answer {url}/healthz within {STARTUP_TIMEOUT}s:\n{_tail(log)}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, demo_nodes: Callable[[str], Any]) -> Iterator[str]:
    """Base URL of a real `dgov serve` on a free loopback port, over a copy of the run's demo node (the
    data directory `dgov init` made, built once per run)."""
    work = tmp_path_factory.mktemp("browser-server")
    port = _free_port()
    env = demo_nodes("sqlite").copy_to(work / "var")
    # The OIDC issuer (discovery, `iss`) must name the address the server really answers on.
    env.update(DGOV_PORT=str(port), DGOV_PUBLIC_URL=f"http://127.0.0.1:{port}")
    # As `make run` does: the identity tests read activation codes at /dev/messages (as the operator).
    env.update(DGOV_DEV_MAILBOX="true")
    log = work / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dgov", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,  # not the repository: a developer's `.env` there must not leak into the run
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    path = _chromium_path()
    if path is None:
        if ON_CI:
            pytest.fail("Chromium is not installed and CI=true: browser tests are mandatory (make chromium)")
        pytest.skip("Chromium is not installed (make chromium)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def context(browser: Browser, server: str) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(base_url=server, viewport={"width": 1280, "height": 900}, locale="vi-VN")
    await ctx.add_init_script(CSP_RECORDER)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
async def page(context: BrowserContext, page_log: PageLog) -> AsyncIterator[Page]:
    p = await context.new_page()
    page_log.watch(p)
    yield p
    await p.close()


@pytest.fixture(scope="session")
def totp_codes(server: str) -> TotpCodes:
    """The TOTP codes typed into this session's server (one per worker): never one it already took."""
    return TotpCodes()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
