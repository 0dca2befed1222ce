"""The Drive v3 contract the fake server enforces, read from the discovery document copied into
``tests/specs/google/drive.v3.json`` (revision 20261106; see ``SOURCE.md`` there):
query parameters per method, ``fields`` masks against the schemas, and the ``q`` search language subset.
"""

from __future__ import annotations

import re
from typing import Any

from google_spec import document


class ApiError(Exception):
    """An error response in Google's JSON shape."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip

    def __init__(self, code: int, reason: str, message: str, domain: str = "global") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.domain = code, reason, message, domain

    def body(self) -> dict[str, Any]:
        """``{"error": {...}}`` as Google APIs answer."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
                "status": self.STATUS.get(self.code, "UNKNOWN"),
            }
        }


def discovery() -> dict[str, Any]:
    """The Drive v3 discovery document (``tests/specs/google``)."""
    return document("drive.v3")


def method(name: str) -> dict[str, Any]:
    """A method description, e.g. ``files.list``."""
    resource, verb = name.split(".")
    return discovery()["resources"][resource]["methods"][verb]  # type: ignore[no-any-return]


def check_params(name: str, params: dict[str, str]) -> dict[str, Any]:
    """Validate query parameters against the method (unknown names, types, bounds); return them typed."""
    spec = {**discovery()["parameters"], **method(name).get("parameters", {})}
    typed: dict[str, Any] = {}
    for key, value in params.items():
        if key not in spec:
            raise ApiError(400, "invalidParameter", f"Invalid parameter: {key}")
        kind = spec[key].get("type")
        if kind == "boolean":
            if value not in ("true", "false"):
                raise ApiError(400, "invalidParameter", f"Invalid boolean value for {key}: {value}")
            typed[key] = value == "true"
        elif kind == "integer":
            try:
                number = int(value)
            except ValueError:
                raise ApiError(400, "invalidParameter", f"Invalid integer value for {key}") from None
            low, high = int(spec[key].get("minimum", -(2**31))), int(spec[key].get("maximum", 2**31))
            if not low <= number <= high:
                raise ApiError(400, "invalidParameter", f"Invalid value for {key}: {number} not in [{low}, {high}]")
            typed[key] = number
        else:
            if "enum" in spec[key] and value not in spec[key]["enum"]:
                raise ApiError(400, "invalidParameter", f"Invalid value for {key}: {value}")
            typed[key] = value
    for key, desc in method(name).get("parameters", {}).items():
        if desc.get("required") and desc.get("location") == "query" and key not in typed:
            raise ApiError(400, "required", f"Required parameter: {key}")
    return typed


# --- fields masks ------------------------------------------------------------------------------
Mask = dict[str, Any]  # name -> sub-mask, or None for "the whole value"


def parse_fields(text: str) -> Mask:
    """Parse ``a,b(c,d(e)),f/g`` into a nested mask."""
    pos = 0

    def parse_list() -> Mask:
        nonlocal pos
        mask: Mask = {}
        while pos < len(text):
            match = re.compile(r"\s*([A-Za-z0-9_*$./]+)\s*").match(text, pos)
            if not match:
                raise ApiError(400, "invalidParameter", f"Invalid field selection {text}")
            pos = match.end()
            path = match.group(1).split("/")
            sub: Mask | None = None
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = parse_list()
                if pos >= len(text) or text[pos] != ")":
                    raise ApiError(400, "invalidParameter", f"Invalid field selection {text}")
                pos += 1
            node = mask
            for name in path[:-1]:
                node = node.setdefault(name, {}) or {}
            node[path[-1]] = sub
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        return mask

    mask = parse_list()
    if pos != len(text):
        raise ApiError(400, "invalidParameter", f"Invalid field selection {text}")
    return mask


def _schema_of(prop: dict[str, Any]) -> str | None:
    if "$ref" in prop:
        return str(prop["$ref"])
    if prop.get("type") == "array":
        return _schema_of(prop.get("items", {}))
    return None


def check_mask(mask: Mask, schema: str) -> None:
    """Every selected field must exist in ``schema`` (recursively), like Drive's 'Invalid field selection'."""
    props = discovery()["schemas"][schema]["properties"]
    for name, sub in mask.items():
        if name == "*":
            continue
        if name not in props:
            raise ApiError(400, "invalidParameter", f"Invalid field selection {name}")
        child = _schema_of(props[name])
        if sub is not None and child is not None:
            check_mask(sub, child)


def apply_mask(value: Any, mask: Mask | None) -> Any:
    """Keep only the selected fields (lists are masked item by item)."""
    if mask is None or "*" in mask:
        return value
    if isinstance(value, list):
        return [apply_mask(v, mask) for v in value]
    if isinstance(value, dict):
        return {k: apply_mask(value[k], mask[k]) for k in mask if k in value}
    return value


# --- the q language (the subset askdocs and tests use) -----------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op>!=|=|\(|\))|(?P<word>[A-Za-z_]+))")
_STRING_FIELDS = {"name", "mimeType"}


def _tokens(q: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(q.rstrip()):
        match = _TOKEN.match(q, pos)
        if not match:
            raise ApiError(400, "invalid", f"Invalid Value: q={q}")
        pos = match.end()
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append((kind, text))
    return out


def compile_query(q: str) -> Any:
    """A predicate over file resources for a Drive ``q`` expression; 400 on anything unsupported."""
    tokens = _tokens(q)
    pos = 0

    def peek() -> tuple[str, str]:
        return tokens[pos] if pos < len(tokens) else ("", "")

    def take(kind: str | None = None, text: str | None = None) -> str:
        nonlocal pos
        k, t = peek()
        if not k or (kind and k != kind) or (text and t.lower() != text):
            raise ApiError(400, "invalid", f"Invalid Value: q={q}")
        pos += 1
        return t

    def expr() -> Any:
        left = conj()
        while peek() == ("word", "or"):
            take()
            right = conj()
            left = (lambda a, b: lambda f: a(f) or b(f))(left, right)
        return left

    def conj() -> Any:
        left = unary()
        while peek() == ("word", "and"):
            take()
            right = unary()
            left = (lambda a, b: lambda f: a(f) and b(f))(left, right)
        return left

    def unary() -> Any:
        if peek() == ("word", "not"):
            take()
            inner = unary()
            return lambda f: not inner(f)
        if peek() == ("op", "("):
            take()
            inner = expr()
            take("op", ")")
            return inner
        if peek()[0] == "str":
            value = take("str")
            take("word", "in")
            if take("word") != "parents":
                raise ApiError(400, "invalid", f"Invalid Value: q={q}")
            return lambda f: value in f.get("parents", [])
        field, op = take("word"), take("op")
        if op not in ("=", "!="):
            raise ApiError(400, "invalid", f"Invalid Value: q={q}")
        if field == "trashed":
            want = take("word").lower() == "true"
            return lambda f: (bool(f.get("trashed")) == want) == (op == "=")
        if field in _STRING_FIELDS:
            value = take("str")
            return lambda f: (f.get(field) == value) == (op == "=")
        raise ApiError(400, "invalid", f"Invalid Value: q={q}")

    predicate = expr()
    if pos != len(tokens):
        raise ApiError(400, "invalid", f"Invalid Value: q={q}")
    return predicate
