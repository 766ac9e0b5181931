"""A real relying party against the real server: `dgov serve` in a subprocess, Authlib's own OAuth 2
client doing authorization code + PKCE (S256), a person logging in at level 2 through the login form
(password, then a TOTP code) and approving the consent screen, then the ID token checked against the
published JWKS, userinfo read, and RP-initiated logout.

SQLite only (like the browser tests): the in-process tests cover both databases.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from dgov.identity.authz import SYSTEM
from dgov.identity.clients import add_client
from dgov.identity.context import IdentityContext
from dgov.identity.oidc import LEVEL2
from dgov.kernel.config import Settings
from dgov.web.runtime import Runtime

with warnings.catch_warnings():
    # Authlib 1.9 warns when it finds httpx rather than its successor httpx2 (not installed here).
    # Its deprecate module installs an "always" filter on import: import it first, then override.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the test reads the redirect itself
LOGOUT_REDIRECT = "http://127.0.0.1:9/bye"
ID_NUMBER = "079185001234"  # HCMC, female, born 1985
PASSWORD = "lantern orchard velvet 1987"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-40:])
    except OSError:
        return "(no log)"


@dataclass
class Node:
    base: str
    env: dict[str, str]
    work: Path
    totp_secret: str


def _dgov(node_env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "dgov", *args],
        cwd=cwd,
        env=node_env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        command = " ".join(args[:2])
        pytest.fail(f"dgov {command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    work = tmp_path_factory.mktemp("oidc-rp")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(
        DGOV_ENV="test",
        DGOV_DATA_DIR=str(work / "var"),
        DGOV_ASSETS_DIR=str(ROOT / "node_modules"),
        DGOV_NODE_NAME="oidc-rp-test",
        DGOV_LOG_LEVEL="WARNING",
        DGOV_PUBLIC_URL=base,
        DGOV_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    _dgov(env, work, "init", "--no-demo")
    totp_secret = pyotp.random_base32()
    _dgov(
        env,
        work,
        "identity",
        "add-citizen",
        "--id-number",
        ID_NUMBER,
        "--full-name",
        "Trần Thị Bình",
        "--birth-date",
        "1985-07-20",
        "--sex",
        "F",
        "--password",
        PASSWORD,
        "--totp-secret",
        totp_secret,
        "--email",
        "binh.tran@example.vn",
    )
    log = work / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dgov", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dgov serve exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dgov serve did not answer within {STARTUP_TIMEOUT}s:\n{_tail(log)}")
            time.sleep(0.2)
        yield Node(base, env, work, totp_secret)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
async def registered(node: Node) -> AsyncIterator[tuple[str, str]]:
    """Register the relying party in the node's database through the service layer."""
    settings = Settings(
        env="test",
        data_dir=node.work / "var",
        public_url=node.base,
        assets_dir=ROOT / "node_modules",
        outbox_in_process=False,
    )
    rt = Runtime.build(settings)
    try:
        ctx = IdentityContext(db=rt.db, secret=rt.secret, issuer=settings.issuer)
        new = await add_client(
            ctx,
            SYSTEM,
            client_id="rp-social-insurance",
            name="Bảo hiểm xã hội",
            redirect_uris=[REDIRECT],
            scopes=["openid", "profile", "email", "vn_id_number"],
            post_logout_redirect_uris=[LOGOUT_REDIRECT],
        )
    finally:
        await rt.close()
    assert new.secret
    yield new.client.client_id, new.secret


def _hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden field {name!r} in:\n{page[:2000]}"
    return html.unescape(m.group(1))


async def test_relying_party_code_flow_with_pkce_at_level_two(
    node: Node, registered: tuple[str, str]
) -> None:
    client_id, client_secret = registered
    async with httpx.AsyncClient(base_url=node.base, timeout=15) as browser:
        meta = (await browser.get("/.well-known/openid-configuration")).json()
        assert meta["issuer"] == node.base
        rp = AsyncOAuth2Client(
            client_id,
            client_secret,
            scope="openid profile vn_id_number",
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            timeout=15,
        )
        async with rp:
            verifier = secrets.token_urlsafe(48)
            nonce = secrets.token_urlsafe(16)
            url, state = rp.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, acr_values=LEVEL2
            )
            assert "code_challenge_method=S256" in url

            # The browser: not logged in, so the provider sends it to log in at level 2.
            r = await browser.get(url)
            assert r.status_code == 303, r.text
            assert r.headers["location"].startswith("/login?") and "level=2" in r.headers["location"]
            login_page = await browser.get(r.headers["location"])
            assert login_page.status_code == 200
            r = await browser.post(
                "/login",
                data={
                    "csrftoken": _hidden(login_page.text, "csrftoken"),
                    "next": _hidden(login_page.text, "next"),
                    "level": _hidden(login_page.text, "level"),
                    "id_number": ID_NUMBER,
                    "password": PASSWORD,
                },
            )
            assert r.status_code == 303 and r.headers["location"].startswith("/login/second-factor"), r.text
            factor_page = await browser.get(r.headers["location"])
            r = await browser.post(
                "/login/second-factor",
                data={
                    "csrftoken": _hidden(factor_page.text, "csrftoken"),
                    "next": _hidden(factor_page.text, "next"),
                    "code": pyotp.TOTP(node.totp_secret).now(),
                },
            )
            assert r.status_code == 303 and r.headers["location"].startswith("/oauth/authorize?"), r.text

            # Back at the provider, now at level 2: the consent screen.
            consent = await browser.get(r.headers["location"])
            assert consent.status_code == 200, consent.text
            assert "Bảo hiểm xã hội" in consent.text and ID_NUMBER in consent.text
            form = re.search(r'<form method="post" action="(/oauth/authorize[^"]+)"', consent.text)
            assert form
            r = await browser.post(
                html.unescape(form.group(1)),
                data={
                    "csrftoken": _hidden(consent.text, "csrftoken"),
                    "approve": "1",
                },
            )
            assert r.status_code == 302, r.text
            callback = r.headers["location"]
            assert callback.startswith(REDIRECT + "?")
            assert parse_qs(urlsplit(callback).query)["state"] == [state]

            token = await rp.fetch_token(
                meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
            )
            assert token["token_type"] == "Bearer"

            # The ID token, checked as a relying party would: signature against the JWKS, then claims.
            jwks = KeySet.import_key_set((await browser.get(meta["jwks_uri"])).json())
            algs = meta["id_token_signing_alg_values_supported"]
            id_token = jwt.decode(token["id_token"], jwks, algorithms=algs)
            assert id_token.header["alg"] == "ES256" and id_token.header["kid"]
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": client_id},
                exp={"essential": True},
                iat={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": nonce},
                acr={"essential": True, "value": LEVEL2},
                auth_time={"essential": True},
            ).validate(id_token.claims)
            half = hashlib.sha256(token["access_token"].encode()).digest()[:16]
            assert id_token.claims["at_hash"] == base64.urlsafe_b64encode(half).rstrip(b"=").decode()
            assert id_token.claims["amr"] == ["pwd", "otp"]

            info = (await rp.get(meta["userinfo_endpoint"])).json()
            assert info == {
                "sub": id_token.claims["sub"],
                "name": "Trần Thị Bình",
                "birthdate": "1985-07-20",
                "gender": "female",
                "vn_id_number": ID_NUMBER,
            }

            # RP-initiated logout brings the browser back to the registered address with the state.
            r = await browser.get(
                meta["end_session_endpoint"],
                params={
                    "id_token_hint": token["id_token"],
                    "post_logout_redirect_uri": LOGOUT_REDIRECT,
                    "state": "bye",
                },
            )
            assert r.status_code == 302 and r.headers["location"] == LOGOUT_REDIRECT + "?state=bye"
            # The provider's session has ended: a new request (fresh nonce) must log in again.
            again, _state = rp.create_authorization_url(
                meta["authorization_endpoint"],
                code_verifier=secrets.token_urlsafe(48),
                nonce=secrets.token_urlsafe(16),
            )
            r = await browser.get(again)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?")
