"""The rules of direction, checked rather than remembered: import-linter's contracts from pyproject.toml,
and an AST scan of the kernel that does not depend on import-linter's configuration being right."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "dgov"
KERNEL = SRC / "kernel"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# The kernel is what every shape and every domain stands on: no web framework, no CLI, no domain.
FORBIDDEN_IN_KERNEL_THIRD_PARTY = {"fastapi", "starlette", "uvicorn", "typer"}


def run_lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS.exists(), f"import-linter is not installed in this environment ({LINT_IMPORTS})"
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow  # lint-imports in a subprocess (make check-fast runs it anyway)
def test_import_linter_contracts_are_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert contracts, "pyproject.toml declares no import-linter contracts"
    result = run_lint_imports()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    m = re.search(r"Contracts: (\d+) kept, (\d+) broken", output)
    assert m, output
    assert (int(m.group(1)), int(m.group(2))) == (len(contracts), 0), output


@pytest.mark.slow  # lint-imports in a subprocess
def test_import_linter_would_catch_a_broken_contract(tmp_path: Path) -> None:
    """Guards the test above: a contract the kernel does break must make lint-imports fail."""
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "dgov"\ninclude_external_packages = true\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "deliberately broken: the kernel uses SQLAlchemy"\ntype = "forbidden"\n'
        'source_modules = ["dgov.kernel"]\nforbidden_modules = ["sqlalchemy"]\n'
    )
    result = run_lint_imports(str(config))
    assert result.returncode != 0
    assert "0 kept, 1 broken" in result.stdout + result.stderr


def _dgov_modules(src: Path) -> set[str]:
    found = {"dgov"}
    for path in src.rglob("*.py"):
        parts = path.relative_to(src.parent).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def _imported_names(path: Path, src: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at any depth (function-level imports and import_module calls too)."""
    package = path.relative_to(src.parent).with_suffix("").parts[:-1]
    names: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.append((node.lineno, module))
            # `from dgov import web` imports the module dgov.web.
            names += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append((node.lineno, node.args[0].value))
    return names


def _forbidden_in_kernel(name: str, ours: set[str]) -> bool:
    top = name.split(".", 1)[0]
    if top in FORBIDDEN_IN_KERNEL_THIRD_PARTY:
        return True
    outside_kernel = name != "dgov" and name != "dgov.kernel" and not name.startswith("dgov.kernel.")
    return top == "dgov" and name in ours and outside_kernel


def kernel_violations(src: Path = SRC) -> list[str]:
    ours = _dgov_modules(src)
    return [
        f"{path.relative_to(src.parent)}:{line} imports {name}"
        for path in sorted((src / "kernel").rglob("*.py"))
        for line, name in _imported_names(path, src)
        if _forbidden_in_kernel(name, ours)
    ]


def test_kernel_imports_no_web_framework_no_cli_and_no_domain() -> None:
    assert kernel_violations() == []


@pytest.mark.parametrize(
    "source",
    [
        "import fastapi",
        "from starlette.requests import Request",
        "from dgov.web.errors import problem",
        "from dgov import web",
        "from .. import cli",
        "from ..web import app",
        "import dgov.cli",
        "def f():\n    import fastapi.responses\n",
        "import importlib\nimportlib.import_module('dgov.web.app')\n",
    ],
)
def test_the_kernel_scan_catches(source: str, tmp_path: Path) -> None:
    """The scan itself must see each form a forbidden import can take, and pass what is allowed."""
    src = tmp_path / "dgov"
    for rel in [
        "__init__.py",
        "cli.py",
        "kernel/__init__.py",
        "kernel/clock.py",
        "kernel/errors.py",
        "web/__init__.py",
        "web/errors.py",
        "web/app.py",
    ]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("")
    (src / "kernel" / "good.py").write_text(
        "import json\nimport sqlalchemy\nfrom dgov.kernel import errors\nfrom . import clock\n"
        "from dgov import kernel\n"
    )
    assert kernel_violations(src) == []
    (src / "kernel" / "bad.py").write_text(source)
    found = kernel_violations(src)
    assert found and all(v.startswith("dgov/kernel/bad.py:") for v in found), found
