"""Templates of issued documents, as data: an HTML layout, a JSON Schema of its fields, a complete
example, the agency that issues it by default, and which fields a verifier may show as a summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from dgov.kernel.errors import FieldError, NotFound, ValidationFailed

_PACKAGE = "dgov.documents"
_FOLDER = "certificates"


@dataclass(frozen=True)
class Template:
    name: str
    title: dict[str, str]
    agency: str
    issuer_roles: tuple[str, ...]  # officials' roles that issue it and read what was issued
    code_prefix: str
    signer_title: str
    legal_basis: str
    subject: str  # dotted path of the field naming the person the document is about
    summary: tuple[tuple[str, str, str], ...]  # (path, label vi, label en)
    schema: dict[str, Any]
    example: dict[str, Any]

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title["vi"]

    def fields(self) -> list[dict[str, Any]]:
        """Leaf fields as dotted paths with their type and title: what `templates --json` lists."""
        out: list[dict[str, Any]] = []
        _leaves(self.schema, self.schema, "", set(self.schema.get("required", [])), out)
        return out

    def validate(self, data: Any) -> None:
        validator = jsonschema.Draft202012Validator(
            self.schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            raise ValidationFailed(
                "The document data do not match the template",
                errors=[FieldError(tuple(e.absolute_path) or ("data",), e.message) for e in errors],
            )

    def subject_of(self, data: dict[str, Any]) -> str | None:
        value = pick(data, self.subject)
        return str(value) if value else None

    def summary_of(self, data: dict[str, Any], lang: str = "vi") -> list[dict[str, str]]:
        rows = []
        for path, vi, en in self.summary:
            value = pick(data, path)
            if value not in (None, ""):
                rows.append({"field": path, "label": vi if lang == "vi" else en, "value": str(value)})
        return rows


def pick(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return dict(target)
    return node


def _leaves(
    root: dict[str, Any], node: dict[str, Any], prefix: str, required: set[str], out: list[Any]
) -> None:
    node = _resolve(root, node)
    props = node.get("properties")
    if isinstance(props, dict):
        req = set(node.get("required", []))
        for key, sub in props.items():
            _leaves(root, sub, f"{prefix}{key}.", req, out)
        return
    name = prefix.rstrip(".")
    leaf = name.rsplit(".", 1)[-1]
    field: dict[str, Any] = {
        "name": name,
        "type": node.get("type", "enum" if "enum" in node else "string"),
        "title": node.get("title", leaf),
        "required": leaf in required,
    }
    for key in ("format", "enum", "pattern"):
        if key in node:
            field[key] = node[key]
    out.append(field)


@cache
def catalog() -> dict[str, Template]:
    found: dict[str, Template] = {}
    folder = resources.files(_PACKAGE).joinpath(_FOLDER)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        raw = json.loads(entry.read_text(encoding="utf-8"))
        t = Template(
            name=raw["name"],
            title=raw["title"],
            agency=raw["agency"],
            issuer_roles=tuple(raw["issuer_roles"]),
            code_prefix=raw["code_prefix"],
            signer_title=raw["signer_title"],
            legal_basis=raw["legal_basis"],
            subject=raw["subject"],
            summary=tuple((str(a), str(b), str(c)) for a, b, c in raw["summary"]),
            schema=raw["schema"],
            example=raw["example"],
        )
        t.validate(t.example)  # a template whose own example fails is a packaging bug
        found[t.name] = t
    return found


def template(name: str) -> Template:
    t = catalog().get(name)
    if t is None:
        raise NotFound("There is no document template named {name}", params={"name": name})
    return t


def html_source(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(_FOLDER, f"{name}.html").read_text(encoding="utf-8")
