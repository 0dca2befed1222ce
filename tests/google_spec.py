"""Google API traffic checked against the published discovery documents (``tests/specs/google/``).

A request must name a method the document has (path and HTTP verb) and only query parameters declared for
it (or for every method of the API); a JSON response body must match the method's response schema. Discovery
schemas are JSON-Schema-like: ``$ref`` names become references into a ``referencing`` registry and every object
without ``additionalProperties`` gets ``additionalProperties: false``, so a field the API does not document fails.
Validation is by ``jsonschema`` (Draft 2020-12).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPECS = Path(__file__).resolve().parent / "specs" / "google"
APIS = ("drive.v3", "docs.v1", "sheets.v4", "slides.v1")
_KEEP = ("type", "enum", "minimum", "maximum", "pattern")


@dataclass(frozen=True)
class Method:
    """One discovery method: its id (``drive.files.list``), verb, path pattern, parameters and response schema."""

    api: str
    id: str
    verb: str
    path: re.Pattern[str]
    query: frozenset[str]
    response: str | None


def _uri(api: str, name: str) -> str:
    return f"urn:google:{api}:{name}"


def to_json_schema(api: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A discovery schema as a JSON Schema (closed objects, ``$ref`` into the API's registry)."""
    if "$ref" in schema:
        return {"$ref": _uri(api, schema["$ref"])}
    out: dict[str, Any] = {k: schema[k] for k in _KEEP if k in schema}
    kind = schema.get("type")
    if kind == "any":
        out.pop("type")
    for bound in ("minimum", "maximum"):  # discovery writes numbers as strings
        if isinstance(out.get(bound), str):
            out[bound] = float(out[bound])
    if kind == "string" and schema.get("format") in ("int64", "uint64"):
        out["pattern"] = r"^-?[0-9]+$"
    if kind == "array":
        out["items"] = to_json_schema(api, schema.get("items", {}))
    if kind == "object":
        out["properties"] = {name: to_json_schema(api, sub) for name, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        out["additionalProperties"] = to_json_schema(api, extra) if isinstance(extra, dict) else False
    return out


@cache
def document(api: str) -> dict[str, Any]:
    """A discovery document by ``name.version``."""
    return json.loads((SPECS / f"{api}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def registry() -> Registry:
    """Every schema of every API, by ``urn:google:<api>:<name>``."""
    resources = []
    for api in APIS:
        for name, schema in document(api)["schemas"].items():
            contents = to_json_schema(api, schema)
            resources.append((_uri(api, name), Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def _walk(api: str, resources: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for resource in resources.values():
        found.extend(resource.get("methods", {}).values())
        found.extend(_walk(api, resource.get("resources", {})))
    return found


def _pattern(prefix: str, path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\+?[^}]+\})", prefix + path)
    regex = "".join(
        (".+" if p.startswith("{+") else "[^/]+") if p.startswith("{") else re.escape(p) for p in parts if p
    )
    return re.compile(f"^/{regex}$")


@cache
def methods() -> tuple[Method, ...]:
    """Every method of every API, with its full URL path (servicePath + path) as a pattern."""
    found = []
    for api in APIS:
        doc = document(api)
        common = frozenset(doc.get("parameters", {}))
        for m in _walk(api, doc.get("resources", {})):
            query = {n for n, p in m.get("parameters", {}).items() if p.get("location") == "query"}
            response = (m.get("response") or {}).get("$ref")
            path = m.get("flatPath") or m["path"]
            found.append(Method(api, m["id"], m["httpMethod"], _pattern(doc["servicePath"], path),
                                frozenset(query) | common, response))  # fmt: skip
    return tuple(found)


def find_method(verb: str, path: str) -> Method | None:
    """The method serving ``verb path`` (the most specific one when paths overlap), or None."""
    matches = [m for m in methods() if m.verb == verb and m.path.match(path)]
    return min(matches, key=lambda m: m.path.pattern.count("[^/]+"), default=None)


def check_request(verb: str, path: str, query: list[str]) -> tuple[Method | None, list[str]]:
    """The method and the spec violations of a request (undocumented path/verb, undeclared parameters)."""
    method = find_method(verb, path)
    if method is None:
        return None, [f"{verb} {path}: no method of {', '.join(APIS)} has this path and verb"]
    unknown = sorted(set(query) - method.query)
    return method, [f"{method.id}: query parameter {name!r} is not declared" for name in unknown]


def check_response(method: Method, body: Any) -> list[str]:
    """Violations of ``method``'s response schema by a JSON ``body`` (unknown fields included)."""
    if method.response is None:
        return [f"{method.id}: the method has no JSON response, yet one was sent"]
    schema = {"$ref": _uri(method.api, method.response)}
    validator = Draft202012Validator(schema, registry=registry())
    return [
        f"{method.id} response at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(body)
    ]
