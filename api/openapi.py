"""The OpenAPI document as the API really answers: every error status, each with the body it carries."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from askdocs.api.schemas import ErrorBody, ValidationErrorBody

_REF = "#/components/schemas/{model}"
# Statuses any operation can answer, whatever its route: middleware and app-wide handlers.
COMMON_ERRORS = {
    "400": "An untrusted Host header, or invalid identity headers.",
    "413": "The request body is larger than ASKDOCS_MAX_REQUEST_BYTES.",
    "503": "The service is not ready (configuration or index problem); `detail` says what to do.",
}
# Statuses of one operation beyond its own ``responses``, keyed by (method, path).
OPERATION_ERRORS = {
    ("post", "/v1/ask"): {"429": "This client already has ASKDOCS_ASK_CONCURRENCY_PER_CLIENT answers in progress."},
}


def _content(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=name)}}}


def _add_model(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document whose error responses match what the app returns."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorBody, ValidationErrorBody):
            _add_model(schemas, model)
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {
                        "description": "Invalid input.",
                        "content": _content(ValidationErrorBody.__name__),
                    }
                extra = {**COMMON_ERRORS, **OPERATION_ERRORS.get((method, path), {})}
                for status, description in extra.items():
                    responses.setdefault(status, {"description": description, "content": _content("ErrorBody")})
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
