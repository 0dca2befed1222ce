"""The Confluence Cloud contract the fake server is held to: Atlassian's published OpenAPI specs, validated with
openapi-core (``tests/specs/confluence/``, provenance in its SOURCE.md).

Every request is checked against the spec of its API generation (``/wiki/rest/api/…`` v1, ``/wiki/api/v2/…`` v2):
the path template and method exist, every query parameter is declared and valid. Every JSON response is checked
against the operation's response schema. In strict mode (the default) object schemas that list their properties
reject fields they do not list, even where the spec leaves ``additionalProperties`` open, so the fake cannot invent
fields the connector would then read. Two normalisations are documented where they are made: the servers become
paths on the test host, and v2 array query parameters are comma-separated lists (``style: form, explode: false``),
as every one of their descriptions says, rather than the OpenAPI default of repeated names.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse

SPECS = Path(__file__).resolve().parent / "specs" / "confluence"
GENERATIONS = {  # path prefix on the site -> (spec file, server path the spec's templates hang from)
    "/wiki/api/v2/": ("confluence_cloud_v2.openapi.json", "/wiki/api/v2"),
    "/wiki/rest/api/": ("confluence_cloud_v1.openapi.json", "/"),
}
# Binary downloads are not REST operations: the v2 attachment's ``downloadLink`` and the media redirect it answers.
DOWNLOADS = ("/wiki/download/attachments/", "/media/file/")
_NOT_SCHEMA = {"example", "examples", "default", "enum", "x-atlassian-data-security-policy"}


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _merged(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """``schema`` with its ``allOf`` members folded into one object schema (so strictness sees every property)."""
    if "allOf" not in schema or depth > 20:
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(out.pop("properties", {}))
    required: list[str] = list(out.pop("required", []))
    for member in schema["allOf"]:
        part = _merged(doc, _resolve(doc, member), depth + 1)
        for name, prop in part.get("properties", {}).items():  # a property in two members must satisfy both
            known = properties.get(name)
            properties[name] = {"allOf": [known, prop]} if known not in (None, prop) else prop
        required += [r for r in part.get("required", []) if r not in required]
        out.update({k: v for k, v in part.items() if k not in ("properties", "required", "allOf")})
    out["properties"] = properties
    if required:
        out["required"] = required
    return out


def _strict_schema(doc: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    """A copy of ``schema`` where object schemas that list properties allow no others."""
    if not isinstance(schema, dict) or "$ref" in schema or depth > 40:
        return schema
    out = _merged(doc, schema)
    out = {**out}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: _strict_schema(doc, s, depth + 1) for name, s in out["properties"].items()}
        if out.get("type", "object") == "object" and out.get("additionalProperties", True) is True:
            out["additionalProperties"] = False
    for key in ("items", "not", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _strict_schema(doc, out[key], depth + 1)
    for key in ("oneOf", "anyOf"):
        if isinstance(out.get(key), list):
            out[key] = [_strict_schema(doc, s, depth + 1) for s in out[key]]
    return out


def _strict(doc: dict[str, Any], node: Any) -> Any:
    """A copy of a part of the document with every schema in it made strict."""
    if isinstance(node, list):
        return [_strict(doc, item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "schema":
            out[key] = _strict_schema(doc, value)
        elif key == "schemas" and isinstance(value, dict):
            out[key] = {name: _strict_schema(doc, s) for name, s in value.items()}
        else:
            out[key] = value if key in _NOT_SCHEMA else _strict(doc, value)
    return out


def _comma_lists(doc: dict[str, Any]) -> None:
    for item in doc["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                param = _resolve(doc, param)
                if param.get("in") == "query" and _resolve(doc, param.get("schema", {})).get("type") == "array":
                    param.setdefault("style", "form")
                    param.setdefault("explode", False)


def _drop_null_defaults(doc: dict[str, Any]) -> None:
    """A parameter whose ``default`` is null but whose schema is not nullable (v1 ``GET /group``'s ``accessType``)
    would make every request that omits it invalid: the default is dropped, the parameter stays optional."""
    for item in doc["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = _resolve(doc, param).get("schema")
                if isinstance(schema, dict) and "default" in schema and schema["default"] is None:
                    del schema["default"]


@cache
def spec(prefix: str, strict: bool) -> tuple[dict[str, Any], OpenAPI]:
    """The prepared spec document of one API generation and its openapi-core validator."""
    filename, server = GENERATIONS[prefix]
    doc = json.loads((SPECS / filename).read_text(encoding="utf-8"))
    doc["servers"] = [{"url": server}]
    _drop_null_defaults(doc)
    if prefix == "/wiki/api/v2/":
        _comma_lists(doc)
    if strict:
        doc = {**doc, "paths": _strict(doc, doc["paths"]), "components": _strict(doc, doc["components"])}
    # Atlassian's published documents carry a few defaults outside their own enums: skip the spec's self-check.
    return doc, OpenAPI.from_dict(copy.deepcopy(doc), config=Config(spec_validator_cls=None))


def _declared(doc: dict[str, Any], template: str, method: str) -> set[str]:
    item = doc["paths"][template]
    params = [*item.get("parameters", []), *item[method].get("parameters", [])]
    return {p["name"] for p in (_resolve(doc, p) for p in params) if p.get("in") == "query"}


def _problem(exc: Exception) -> str:
    """The validation errors, each at its place in the body, without echoing the whole value."""
    errors = list(getattr(exc.__cause__, "schema_errors", ()) or getattr(exc, "schema_errors", ()))
    if not errors:
        return str(exc.__cause__ or exc)
    found = []
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "(value)"
        found.append(f"{where}: {error.message[:200]}")
        found += [f"  {where}: {c.message[:200]}" for c in (error.context or [])[:4]]
    return "; ".join(found)


class Contract:
    """Checks one exchange with the fake; returns the violations found (empty when it keeps to the spec)."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self._seen: dict[tuple[Any, ...], list[str]] = {}  # polls repeat exchanges: each is validated once

    def _once(self, key: tuple[Any, ...], check: Callable[[], list[str]]) -> list[str]:
        if key not in self._seen:
            self._seen[key] = check()
        return self._seen[key]

    def _generation(self, path: str) -> str | None:
        return next((prefix for prefix in GENERATIONS if path.startswith(prefix)), None)

    def _request(self, host: str, method: str, path: str, query: list[tuple[str, str]]) -> MockRequest:
        return MockRequest(host, method.lower(), path, args=query, headers={"Authorization": "Basic x"})

    def check_request(self, host: str, method: str, path: str, query: list[tuple[str, str]]) -> list[str]:
        """Violations of the request: an undocumented path or method, undeclared or invalid parameters."""
        return self._once((method, path, tuple(query)), lambda: self._check_request(host, method, path, query))

    def _check_request(self, host: str, method: str, path: str, query: list[tuple[str, str]]) -> list[str]:
        if path.startswith(DOWNLOADS):
            return []
        prefix = self._generation(path)
        if prefix is None:
            return [f"{method} {path}: not a documented Confluence Cloud REST path"]
        doc, api = spec(prefix, self.strict)
        try:
            found = APICallPathFinder(api.spec).find(method.lower(), host + path)
        except PathError as exc:
            return [f"{method} {path}: {exc} (undocumented in the Confluence spec)"]
        template = str(found.path.parts[-1])
        problems = [
            f"{method} {path}: query parameter {name!r} is not declared for {template}"
            for name in sorted({name for name, _ in query} - _declared(doc, template, method.lower()))
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the spec's OAuth scheme, which openapi-core does not model
            try:
                api.validate_request(self._request(host, method, path, query))
            except Exception as exc:  # noqa: BLE001 - every validation error is reported the same way
                problems.append(f"{method} {path}: {_problem(exc)}")
        return problems

    def check_response(
        self, host: str, method: str, path: str, query: list[tuple[str, str]], status: int, body: bytes, media: str
    ) -> list[str]:
        """Violations of a successful JSON response against the operation's response schema."""
        key = (method, path, tuple(query), status, hashlib.sha256(body).digest(), media)
        return self._once(key, lambda: self._check_response(host, method, path, query, status, body, media))

    def _check_response(
        self, host: str, method: str, path: str, query: list[tuple[str, str]], status: int, body: bytes, media: str
    ) -> list[str]:
        prefix = self._generation(path)
        if prefix is None or path.startswith(DOWNLOADS) or status >= 300:
            return []
        _, api = spec(prefix, self.strict)
        response = MockResponse(body, status_code=status, content_type=media.split(";")[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                api.validate_response(self._request(host, method, path, query), response)
            except Exception as exc:  # noqa: BLE001 - every validation error is reported the same way
                return [f"{method} {path} -> {status}: {_problem(exc)}"]
        return []
