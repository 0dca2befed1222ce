"""Request and response bodies of the REST API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from askdocs.models import Answer, Hit, SearchFilters


def _stripped(value: str) -> str:
    """The text without surrounding spaces; blank text is refused (422)."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


NonBlankText = Annotated[str, AfterValidator(_stripped)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Strict):
    """POST /v1/search body."""

    query: NonBlankText = Field(min_length=1, max_length=2000, examples=["How do I connect to the VPN?"])
    top_k: StrictInt = Field(10, ge=1, le=50)
    filters: SearchFilters | None = None
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


class SearchResponse(BaseModel):
    """Ranked documents, each with its best passage."""

    query: str
    hits: list[Hit]
    took_ms: float


class AskRequest(_Strict):
    """POST /v1/ask body."""

    question: NonBlankText = Field(
        min_length=1, max_length=2000, examples=["東京オフィスの入館カードの再発行手数料は？"]
    )
    filters: SearchFilters | None = None
    stream: StrictBool = Field(
        False,
        description="Stream Server-Sent Events: 'hits', then 'token' events, then 'citations', then 'done'.",
    )


class AskResponse(Answer):
    """The answer with its citations and the hits it was drawn from."""

    took_ms: float


class AskError(BaseModel):
    """502/503 body when the LLM failed: the reason, and the search part of the answer all the same."""

    detail: str
    question: str
    generator: str
    hits: list[Hit]


class ErrorBody(BaseModel):
    """Every error response: a readable reason."""

    detail: str = Field(description="What was wrong, in words.")


class FieldError(BaseModel):
    """One invalid part of a request."""

    loc: list[str | int] = Field(description="Where: 'body', 'query', 'header' or 'path', then field names.")
    msg: str
    type: str


class ValidationErrorBody(ErrorBody):
    """422: ``detail`` joins the problems readably; ``errors`` lists each one."""

    errors: list[FieldError]
