"""The authorisation matrix: every route of the app × every kind of caller, against the answer written
in `authz_matrix.txt` (a table a reviewer reads: one line per route and method, one column per role).

- The routes come from the app's own route table (`create_app()`), pages included; a route without a
  line in the table fails (a new route forces a decision), and so does a line naming no route.
- Each row is a real request through the whole middleware stack (CSRF included: page forms carry a valid
  token, so what answers is the route, not the CSRF check) by a real session or a real bearer token.
- Unsafe methods send an empty or invalid body: an allowed caller gets a validation error (or a
  confirmation screen) and nothing changes; a caller who may not act must be refused before that.
- Rows where today's answer is wrong (issue 12) are listed under `xfail` in the table with the defect:
  the test expects the correct answer and xfails strictly until the fix lands.

Answers: ok (the route served the caller: 2xx, a redirect elsewhere than the login page, or a
validation error 400/409/415/422), login (a redirect to /login), 401, 403, 404.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from authz_world import ROLES, World, app_for, build, drop_pg, fresh_database_url, settings_for, transport
from fastapi.routing import iter_route_contexts
from httpx import Response
from pydantic import SecretStr
from starlette.routing import Mount

from dgov.kernel.config import Settings
from dgov.web.app import create_app
from dgov.web.middleware import is_api_path

TABLE = Path(__file__).with_name("authz_matrix.txt")
ANSWERS = {"ok", "login", "401", "403", "404"}
RECORD = os.environ.get("DGOV_AUTHZ_RECORD")  # a file to append the observed answers to (updating the table)
# Rows that end the caller's sessions run last, and the role gets a new session after them.
ENDS_SESSIONS = {("POST", "/logout"), ("POST", "/account/logout-everywhere")}


# --- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: list[str]
    expected: dict[tuple[str, str], dict[str, str]]  # (method, path) → role → answer
    xfails: dict[tuple[str, str, str], str]  # (method, path, role) → the defect


def read_table(path: Path = TABLE) -> Table:
    columns: list[str] = []
    expected: dict[tuple[str, str], dict[str, str]] = {}
    xfails: dict[tuple[str, str, str], str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if words[0] == "roles:":
            columns = words[1:]
            assert list(ROLES) == columns, f"line {number}: the columns must be {list(ROLES)}"
            continue
        if words[0] == "xfail":
            # xfail METHOD PATH role[,role…] | all : the defect (" : " separates: paths hold colons)
            head, _sep, reason = line.partition(" : ")
            _x, method, route, who = head.split()
            assert reason.strip(), f"line {number}: an xfail names its defect"
            roles = columns if who == "all" else who.split(",")
            for role in roles:
                assert role in columns, f"line {number}: unknown role {role}"
                xfails[(method, route, role)] = reason.strip()
            continue
        method, route, *answers = words
        if len(answers) == 1:  # one answer for every column
            answers = answers * len(columns)
        assert len(answers) == len(columns), f"line {number}: {len(answers)} answers for {len(columns)} roles"
        assert set(answers) <= ANSWERS, f"line {number}: answers are {sorted(ANSWERS)}"
        assert (method, route) not in expected, f"line {number}: {method} {route} twice"
        expected[(method, route)] = dict(zip(columns, answers, strict=True))
    for method, route, _role in xfails:
        assert (method, route) in expected, f"xfail for {method} {route}, which has no row"
    return Table(columns, expected, xfails)


# --- the routes ------------------------------------------------------------------------------------


def route_table(app: Any) -> set[tuple[str, str]]:
    """(method, path template) of every route; mounts (static files) as ("MOUNT", path)."""
    found: set[tuple[str, str]] = set()
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, Mount):
            found.add(("MOUNT", str(ctx.path)))
            continue
        methods = set(ctx.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette answers HEAD wherever it answers GET
        for method in methods:
            found.add((method, str(ctx.path)))
    return found


def bare_app() -> Any:
    # Building the app touches no database: a throwaway settings object is enough to read its routes.
    data = Path(tempfile.gettempdir()) / "dgov-authz-routes"
    return create_app(Settings(env="test", data_dir=data, secret_key=SecretStr("routes")))


def app_routes() -> set[tuple[str, str]]:
    return route_table(bare_app())


TABLE_NOW = read_table()
ROUTES = app_routes()


def test_every_route_has_a_line_in_the_table_and_every_line_a_route() -> None:
    missing = sorted(ROUTES - set(TABLE_NOW.expected))
    stale = sorted(set(TABLE_NOW.expected) - ROUTES)
    assert not missing, f"routes with no line in {TABLE.name} (decide who may call them): {missing}"
    assert not stale, f"lines in {TABLE.name} naming no route of the app: {stale}"


def test_a_route_added_to_the_app_is_noticed_with_its_methods() -> None:
    app = bare_app()
    app.add_api_route("/nouveau/{x}", lambda x: x, methods=["GET", "POST"])
    assert route_table(app) - set(TABLE_NOW.expected) == {("GET", "/nouveau/{x}"), ("POST", "/nouveau/{x}")}


def test_the_table_reader_refuses_a_line_without_every_role(tmp_path: Path) -> None:
    bad = tmp_path / "t.txt"
    bad.write_text("roles: " + " ".join(ROLES) + "\nGET /healthz ok ok\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="answers for"):
        read_table(bad)


# --- how each route is called --------------------------------------------------------------------

# Path parameters: the demo objects of An's (Ba Đình, Hà Nội), by parameter name; per-route overrides below.
FILL = {
    "name": "htmx.min.js",
    "code": "{doc_code}",
    "registry": "population",
    "version": "1",
    "key": "001090012345",
    "field_ext": "full_name.json",
    "address": "INSTANCE/GOV/BCA/CSDLQGDC/population",
    "sub_id": "{sub_id}",
    "delivery_id": "{delivery_id}",
    "file_name": "root.pem",
    "encoded": "MAA=",
    "procedure_id": "birth-bundle",
    "prefix": "{session_prefix}",
    "client_id": "demo-rp",
    "account_id": "{official_id}",
    "role_id": "{role_id}",
    "dossier_id": "{dossier_id}",
    "item_id": "{item_id}",
    "event_id": "00000000-0000-0000-0000-000000000000",
    "declaration_id": "00000000-0000-0000-0000-000000000000",
}
OVERRIDES: dict[str, dict[str, str]] = {
    "/lang/{code}": {"code": "vi"},
    "/pki/crl/{file_name}": {"file_name": "root.crl"},
    "/operator/clients/{client_id}/disable": {"client_id": "{client_id}"},
    "/ho-so/{dossier_id}/tep/{code}": {"code": "{attachment}"},
}
# Bodies: page forms get the CSRF token plus these fields; APIs get this JSON (or nothing).
FORMS: dict[tuple[str, str], dict[str, str]] = {
    # An action the task does not offer: refused by validation once the official may act on the task.
    ("POST", "/can-bo/viec/{item_id}"): {"action": "{action}"},
    # A made-up assignee for An's task in Ba Đình's civil status queue (issue 12, defect 6). Today an
    # allowed official's assignment succeeds; the task's later rows then meet a claimed task (409),
    # which still shows that they got past the authorisation.
    ("POST", "/can-bo/giao"): {"items": "{item_id}", "assignee": "khong-ton-tai"},
    # An's own draft, submitted empty: only An may get as far as the form's validation.
    ("POST", "/dich-vu-cong/{procedure_id}/nop"): {"draft_id": "{draft_id}"},
}
# Reads name An's record and state a purpose, so that what answers is the authorisation.
QUERY: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/data/{registry}/{version}/read"): {"key": "001090012345"},
    ("GET", "/data/{registry}/{version}/exists"): {"key": "001090012345"},
}
PURPOSE = {"x-dgov-purpose": "Kiem tra phan quyen"}
JSON: dict[tuple[str, str], Any] = {
    ("POST", "/data/{registry}/{version}/read"): {"query": {"key": "001090012345"}},
    ("POST", "/data/{registry}/{version}/exists"): {"query": {"key": "001090012345"}},
    ("POST", "/data/{registry}/{version}/create"): {"write": {"content": {}}},
    ("PUT", "/data/{registry}/{version}/update"): {"write": {"content": {}}},
    ("POST", "/data/{registry}/{version}/updateOrCreate"): {"write": {"content": {}}},
    ("POST", "/data/{registry}/{version}/update-or-create"): {"write": {"content": {}}},
}


def fill(route: str, ids: dict[str, str]) -> str:
    values = {**FILL, **OVERRIDES.get(route, {})}

    def one(m: re.Match[str]) -> str:
        value = values[m.group(1)]
        return value.format(**ids) if value.startswith("{") else value

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, route)


def answer_of(r: Response) -> str:
    if r.is_redirect:
        return "login" if urlsplit(r.headers["location"]).path == "/login" else "ok"
    if r.status_code in (401, 403, 404):
        return str(r.status_code)
    if r.status_code < 300 or r.status_code in (400, 409, 415, 422):
        return "ok"
    return f"unexpected {r.status_code}"


async def call(world: World, method: str, route: str, role: str) -> Response:
    kind = ROLES[role][0]
    headers = {"accept": "text/html" if not is_api_path(route) else "application/json"}
    cookies = {"csrftoken": world.csrf}
    if kind in {"citizen", "official"}:
        cookies["dgov_session"] = world.tokens[role]
    elif kind == "client":
        headers["authorization"] = f"Bearer {world.tokens[role]}"
        cookies = {}
    if cookies:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    url = fill(route, world.ids)
    if method == "MOUNT":  # a file of the mounted directory
        method, url = "GET", f"{route}/css/app.css"
    if url.startswith("/r1/"):
        url = url.replace("INSTANCE", world.runtime.settings.exchange_instance)
    world.http.cookies.clear()  # nothing carries over between rows but what `headers` says
    if route.startswith("/data/"):
        headers.update(PURPOSE)
    kwargs: dict[str, Any] = {"headers": headers, "params": QUERY.get((method, route))}
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        if is_api_path(route) or route.startswith("/oauth/"):
            if (method, route) in JSON:
                kwargs["json"] = JSON[(method, route)]
            elif route.startswith("/oauth/"):
                kwargs["data"] = {"csrftoken": world.csrf}
        else:
            extra = {k: v.format(**world.ids) for k, v in FORMS.get((method, route), {}).items()}
            kwargs["data"] = {"csrftoken": world.csrf, **extra}
    return await world.http.request(method, url, **kwargs)


# --- the matrix ------------------------------------------------------------------------------------


def _rows() -> list[Any]:
    rows = []
    for method, route in sorted(ROUTES, key=lambda r: ((r[0], r[1]) in ENDS_SESSIONS, r[1], r[0])):
        for role in ROLES:
            marks = []
            reason = TABLE_NOW.xfails.get((method, route, role))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            rows.append(pytest.param(method, route, role, marks=marks, id=f"{method} {route} {role}"))
    return rows


@pytest.fixture(scope="module")
async def world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp(f"authz-{backend}")
    url, pg_name = fresh_database_url(backend, tmp)
    app, rt = app_for(settings_for(url, tmp / "var"))
    try:
        async with transport(app) as http:
            yield await build(rt, app, http)
    finally:
        await rt.close()
        if pg_name:
            drop_pg(pg_name)


@pytest.mark.parametrize(("method", "route", "role"), _rows())
async def test_route_answers_each_role_as_the_table_says(
    world: World, method: str, route: str, role: str
) -> None:
    r = await call(world, method, route, role)
    got = answer_of(r)
    if RECORD:
        with open(RECORD, "a", encoding="utf-8") as out:
            out.write(f"{method}\t{route}\t{role}\t{got}\t{r.status_code}\n")
    if (method, route) in ENDS_SESSIONS:
        await world.renew(role)
    expected = TABLE_NOW.expected.get((method, route), {}).get(role)
    assert expected is not None, f"{method} {route} has no line in {TABLE.name}"
    assert got == expected, f"{method} {route} as {role}: {r.status_code} ({got}), table says {expected}"
