"""Babel extraction method for dgov's Python code (named `dgov_python` in babel.cfg).

Besides the usual `_()`, `gettext()`, `ngettext()` and `N_()` calls (Babel's own extractor), it finds the
English msgids that the web layer translates only when an error reaches it, so nobody has to wrap them:

* `title = "…"` in the body of a DomainError subclass;
* the detail given to a DomainError subclass: `raise NotFound("No such asset")` or `detail="…"`;
* the message of a FieldError: `FieldError(("birth_date",), "Enter a date as YYYY-MM-DD")`.

Which classes are DomainError subclasses is worked out from the source of the whole `dgov` package
(statically, without importing anything), so a domain's own `class DossierLocked(Conflict)` raised in
another module is recognised too.

`extract_registry_schema` (named `dgov_schema` in babel.cfg) reads a registry's JSON Schema and yields the
English `title` of every property, nested ones included, which the registry pages pass to `_()` as field
labels. The registry's own `x-dgov` block is skipped: its titles are already {vi, en} objects.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, cast

from babel.messages.extract import extract_python

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BASE_ERROR = "DomainError"

Extracted = tuple[int, str | None, str | tuple[str | None, ...], list[str]]


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def error_class_names(trees: Collection[ast.AST]) -> frozenset[str]:
    """Names of DomainError and of every class that derives from it, across all the given modules."""
    bases: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(n for b in node.bases if (n := _name(b)))
    found = {BASE_ERROR}
    grew = True
    while grew:
        new = {cls for cls, parents in bases.items() if cls not in found and parents & found}
        found |= new
        grew = bool(new)
    return frozenset(found)


@lru_cache(maxsize=1)
def package_error_class_names() -> frozenset[str]:
    trees = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        try:
            trees.append(ast.parse(path.read_bytes(), filename=str(path)))
        except SyntaxError:
            continue  # a half-written file elsewhere must not stop extraction of this one
    return error_class_names(trees)


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return node.value
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def error_msgids(tree: ast.AST, error_names: frozenset[str]) -> Iterator[tuple[int, str, str]]:
    """(line, msgid, note for translators) for every error title, detail and field message in `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and (
            node.name in error_names or any(_name(b) in error_names for b in node.bases)
        ):
            yield from _class_titles(node)
        elif isinstance(node, ast.Call):
            yield from _call_message(node, error_names)


def _class_titles(node: ast.ClassDef) -> Iterator[tuple[int, str, str]]:
    """An error class's `title = "…"`."""
    for stmt in node.body:
        target, value = None, None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign):
            target, value = stmt.target, stmt.value
        if target is not None and _name(target) == "title" and (text := _literal(value)):
            yield stmt.lineno, text, f"Error title ({node.name})"


def _call_message(node: ast.Call, error_names: frozenset[str]) -> Iterator[tuple[int, str, str]]:
    """`SomeError("detail")` and `FieldError(loc, "message")`."""
    callee = _name(node.func)
    if callee in error_names:
        arg = node.args[0] if node.args else _keyword(node, "detail")
        if text := _literal(arg):
            yield node.lineno, text, f"Error detail ({callee})"
    elif callee == "FieldError":
        arg = node.args[1] if len(node.args) > 1 else _keyword(node, "message")
        if text := _literal(arg):
            yield node.lineno, text, "Message about one field"


def extract_dgov_python(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Any,  # the [section] options of babel.cfg; Babel types them per extractor
) -> Iterator[Extracted]:
    # Babel's annotation of extract_python's results does not match the tuples it yields.
    yield from cast("Iterator[Extracted]", extract_python(fileobj, keywords, comment_tags, options))
    fileobj.seek(0)
    try:
        tree = ast.parse(fileobj.read())
    except SyntaxError:
        return
    for lineno, text, note in error_msgids(tree, package_error_class_names()):
        # funcname None: Babel then takes the message as a plain singular msgid.
        yield lineno, None, text, [note]


def schema_titles(schema: Any) -> Iterator[str]:
    """The string `title` of every property in `schema`, in document order, at any depth (objects,
    array `items`, `$defs`, conditionals)."""
    if isinstance(schema, list):
        for item in schema:
            yield from schema_titles(item)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key.startswith("x-"):
            continue  # x-dgov titles are bilingual already; other x- keys hold no schemas
        if key == "properties" and isinstance(value, dict):
            for spec in value.values():
                if isinstance(spec, dict) and (title := _text(spec.get("title"))):
                    yield title
                yield from schema_titles(spec)
        else:
            yield from schema_titles(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def extract_registry_schema(
    fileobj: IO[bytes],
    _keywords: Mapping[str, Any],
    _comment_tags: Collection[str],
    **_options: Any,  # Babel's extractor signature; a registry schema has no keywords or options
) -> Iterator[Extracted]:
    text = fileobj.read().decode("utf-8")
    for title in schema_titles(json.loads(text)):
        # The line only helps a translator find the field; json.loads does not keep positions.
        found = re.search(r'"title"\s*:\s*' + re.escape(json.dumps(title)), text)
        lineno = text.count("\n", 0, found.start()) + 1 if found else 1
        yield lineno, None, title, ["Registry field title"]
