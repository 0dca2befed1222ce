"""POST /v1/ask: a cited answer as JSON, or streamed as Server-Sent Events."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from askdocs.api.deps import PrincipalsDep, ServicesDep
from askdocs.api.limits import check_filters
from askdocs.api.schemas import AskError, AskRequest, AskResponse
from askdocs.api.security import public_hits
from askdocs.app import Services
from askdocs.models import Hit
from askdocs.redaction import redact
from askdocs.retrieval.answer import LLMError, StreamEvent, Token

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["search"])

_SSE_DOC = (
    "With `stream: true` the response is `text/event-stream`: one `hits` event (the search part), `token` events "
    '(`{"text": ...}`, answer text as generated), one `citations` event (the checked answer without hits: text, '
    "citations, sentences, groundedness, found, generator), then `done`. An LLM failure after streaming began "
    'sends an `error` event (`{"status", "detail"}`) before `done`. Closing the connection cancels the LLM request.'
)


class DisconnectAwareStream(StreamingResponse):
    """A streaming response that stops its body (and so the upstream LLM request) as soon as the client leaves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def body() -> None:
                try:
                    await self.stream_response(send)
                except OSError:
                    log.info("ask stream: client went away")
                group.cancel_scope.cancel()

            group.start_soon(body)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


def _took(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _llm_error(exc: LLMError, question: str, hits: list[Hit], generator: str) -> JSONResponse:
    body = AskError(detail=redact(exc.message), question=question, generator=generator, hits=hits)
    headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after is not None else None
    return JSONResponse(status_code=exc.status, content=body.model_dump(mode="json"), headers=headers)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def _events(services: Services, question: str, hits: list[Hit]) -> AsyncGenerator[StreamEvent, None]:
    """The generator's own stream when it has one; else its whole answer as one token."""
    async for event in services.pipeline.events(question, hits):
        yield event


async def _sse_body(
    first: StreamEvent, events: AsyncGenerator[StreamEvent, None], hits: list[Hit], started: float
) -> AsyncIterator[str]:
    try:
        yield _sse("hits", {"hits": [hit.model_dump(mode="json") for hit in hits]})
        event: StreamEvent | None = first
        while event is not None:
            if isinstance(event, Token):
                yield _sse("token", {"text": event.text})
            else:
                yield _sse("citations", event.answer.model_dump(mode="json", exclude={"hits"}))
            event = await anext(events, None)
    except LLMError as exc:
        yield _sse("error", {"status": exc.status, "detail": redact(exc.message)})
    except Exception:  # noqa: BLE001 - the stream has started: report, never a broken 500
        log.exception("ask stream failed")
        yield _sse("error", {"status": 500, "detail": "internal error while streaming the answer"})
    finally:
        with anyio.CancelScope(shield=True):
            await events.aclose()
    yield _sse("done", {"took_ms": _took(started)})


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON answer, or SSE when `stream` is true."},
        502: {"model": AskError, "description": "The LLM failed or answered badly; `hits` still holds the search."},
        503: {"model": AskError, "description": "The LLM is unreachable, timed out or rate limited."},
    },
    description="A short answer citing the passages it comes from, or a refusal when they do not contain one. "
    + _SSE_DOC,
)
async def ask(body: AskRequest, services: ServicesDep, principals: PrincipalsDep) -> Response | AskResponse:
    """A short answer citing the passages it comes from, or a refusal when they do not contain one."""
    started = time.perf_counter()
    check_filters(body.filters, services.settings)
    hits = public_hits(await run_in_threadpool(services.retrieve, body.question, principals, body.filters))
    generator = services.answerer.name
    if not body.stream:
        try:
            answer = await run_in_threadpool(services.answer, body.question, hits)
        except LLMError as exc:
            return _llm_error(exc, body.question, hits, generator)
        return AskResponse(**answer.model_dump(), took_ms=_took(started))
    events = _events(services, body.question, hits)
    try:
        first = await anext(events)
    except LLMError as exc:  # the LLM could not even start: a real status code, with the hits
        return _llm_error(exc, body.question, hits, generator)
    return DisconnectAwareStream(
        _sse_body(first, events, hits, started),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
