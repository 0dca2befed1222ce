"""Checks what a connector sends to a fake vendor server, and what the fake answers, against the vendor's spec.

``SwaggerSpec`` reads a Swagger 2.0 document (Slack publishes its Web API as one) plus an errata file of JSON
Patch operations, each with the vendor documentation that justifies it. Requests: the path and verb must exist
and every query/form parameter must be declared with a value of the declared type. Responses: the body must match
the operation's response schema, validated by ``jsonschema`` (Draft 4, the schema dialect of Swagger 2.0) with
``$ref``s resolved in the spec. openapi-core reads OpenAPI 3 only, and Slack's document fails strict Swagger 2.0
validation where it uses tuple ``items``, so the schemas are checked directly.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonpatch
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS = Path(__file__).resolve().parent / "specs"
_TYPES = {"integer": int, "number": float, "string": str}


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class SwaggerSpec:
    """One vendor's Swagger 2.0 spec with its errata applied; ``check_*`` return violations as sentences."""

    def __init__(self, spec: Path, errata: Path | None = None) -> None:
        document = json.loads(spec.read_text(encoding="utf-8"))
        self.errata: list[dict[str, Any]] = json.loads(errata.read_text(encoding="utf-8")) if errata else []
        for fix in self.errata:
            if not fix.get("why") or not fix.get("source"):
                raise ValueError(f"erratum {fix.get('path')} needs a 'why' and a vendor 'source'")
        ops = [{k: v for k, v in fix.items() if k in ("op", "path", "value")} for fix in self.errata]
        self.document: dict[str, Any] = jsonpatch.apply_patch(document, ops)
        self.uri = f"urn:spec:{spec.name}"

    @cached_property
    def _registry(self) -> Registry[Any]:
        return Registry().with_resource(self.uri, Resource.from_contents(self.document, DRAFT4))

    def operation(self, path: str, verb: str) -> dict[str, Any] | None:
        """The operation object, or None when the spec has no such path and verb."""
        found = (self.document["paths"].get(path) or {}).get(verb.lower())
        return found if isinstance(found, dict) else None

    def check_request(self, path: str, verb: str, params: dict[str, str]) -> list[str]:
        """A request's path, verb and parameters (query and form alike) against the spec."""
        operation = self.operation(path, verb)
        if operation is None:
            return [f"{verb.upper()} {path}: no such operation in the spec"]
        declared = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") in ("query", "formData")}
        problems = []
        for name, value in params.items():
            if name not in declared:
                problems.append(f"{path}: parameter {name!r} is not declared")
            elif not _fits(value, str(declared[name].get("type", "string"))):
                problems.append(f"{path}: parameter {name}={value!r} is not a {declared[name].get('type')}")
        return problems

    def check_response(self, path: str, verb: str, status: str, body: Any) -> list[str]:
        """A response body against the operation's schema for ``status`` (falling back to ``default``)."""
        responses = (self.operation(path, verb) or {}).get("responses") or {}
        key = status if status in responses else "default"
        if "schema" not in (responses.get(key) or {}):
            return [f"{verb.upper()} {path}: the spec has no response {status}"]
        ref = f"{self.uri}#{_pointer('paths', path, verb.lower(), 'responses', key, 'schema')}"
        validator = Draft4Validator({"$ref": ref}, registry=self._registry)
        return [
            f"{path} response {key} at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
            for e in validator.iter_errors(body)
        ]


def _fits(value: str, kind: str) -> bool:
    if kind == "boolean":
        return value.lower() in ("true", "false", "0", "1")
    try:
        _TYPES.get(kind, str)(value)
    except ValueError:
        return False
    return True
