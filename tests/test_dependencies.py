"""Declared dependencies match imports (issue 11): every third-party package `src/dgov` imports is a
declared runtime dependency in pyproject.toml, and every declared runtime dependency is imported,
apart from the few listed below with the reason each is declared without an import."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dgov"

# Declared but never imported by name, each for a reason:
DECLARED_NOT_IMPORTED = {
    # database drivers SQLAlchemy loads from the URL (sqlite+aiosqlite://, postgresql+psycopg://)
    "aiosqlite": "driver named in the database URL",
    "psycopg": "driver named in the database URL (the [binary] extra ships libpq)",
    # located with importlib.util.find_spec and read as data (its SQLite file of administrative units)
    "vietnamadminunits": "its data file is read, the package is not imported",
    # asgi-csrf signs its tokens with it; declared so its floor version is ours to choose
    "itsdangerous": "used by asgi-csrf",
}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {_normal(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def imported_top_level(src: Path = SRC) -> dict[str, str]:
    """Top-level module name -> the first file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(src.parent)))
    return found


def third_party(imports: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Distribution (normalised) -> (module, file) for every import outside the stdlib and dgov."""
    dists = importlib.metadata.packages_distributions()
    out: dict[str, tuple[str, str]] = {}
    for module, where in imports.items():
        if module in sys.stdlib_module_names or module in {"dgov", "__future__"}:
            continue
        # A module no installed distribution provides shows as "?name": it can never be declared.
        for dist in dists.get(module, [f"?{module}"]):
            out.setdefault(_normal(dist), (module, where))
    return out


def test_every_third_party_import_is_a_declared_dependency() -> None:
    undeclared = {
        dist: f"{module} in {where}"
        for dist, (module, where) in third_party(imported_top_level()).items()
        if dist not in declared()
    }
    assert undeclared == {}


def test_every_declared_dependency_is_imported_or_listed_with_its_reason() -> None:
    used = set(third_party(imported_top_level()))
    unused = declared() - used - set(DECLARED_NOT_IMPORTED)
    assert unused == set()
    # The exceptions stay honest: one that becomes imported, or is no longer declared, leaves the list.
    assert {name for name in DECLARED_NOT_IMPORTED if name in used} == set()
    assert set(DECLARED_NOT_IMPORTED) <= declared()


def test_the_scan_sees_every_form_of_import_and_what_provides_it(tmp_path: Path) -> None:
    """The checks above fail when they should: imports inside functions and `from` imports count,
    relative imports and the standard library do not, and an unknown module is never declared."""
    (tmp_path / "a.py").write_text("import json\nfrom pyotp import TOTP\nfrom . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    import yaml_not_installed.sub\n    import PIL.Image\n")
    dists = third_party(imported_top_level(tmp_path))
    assert dists == {
        "pyotp": ("pyotp", f"{tmp_path.name}/a.py"),
        "pillow": ("PIL", f"{tmp_path.name}/b.py"),
        "?yaml-not-installed": ("yaml_not_installed", f"{tmp_path.name}/b.py"),
    }
    assert "?yaml-not-installed" not in declared()
