"""Request limits: body size (413), filter sizes (422), concurrent answers per client (429), bounded metric labels.

Every limit is a ``Settings`` field, read when the request arrives (from the app's services).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from askdocs.models import SearchFilters
from askdocs.settings import Settings

# Methods that get their own label in request metrics; any other collapses into "other" (bounded series).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ASK_PATH = "/v1/ask"


def method_label(method: str) -> str:
    """The metrics label for an HTTP method: itself when standard, else ``other``."""
    return method if method in KNOWN_METHODS else "other"


def _settings(scope: Scope) -> Settings:
    return scope["app"].state.services.settings  # type: ignore[no-any-return]


async def send_json(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """Answer an ASGI request with a small JSON body."""
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


class HttpMiddleware:
    """An ASGI middleware that handles HTTP requests (``handle``) and passes anything else (lifespan) through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send, _settings(scope))

    async def handle(self, scope: Scope, receive: Receive, send: Send, settings: Settings) -> None:
        """One HTTP request, with the settings of the app it arrived at."""
        await self.app(scope, receive, send)


class BodySizeLimit(HttpMiddleware):
    """413 for a body over ``max_request_bytes``: at once from Content-Length, else as soon as it is exceeded."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, settings: Settings) -> None:
        limit = settings.max_request_bytes
        detail = f"request body is larger than the limit of {limit} bytes (ASKDOCS_MAX_REQUEST_BYTES)"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_json(send, 413, {"detail": detail}, {"Connection": "close"})
            return
        # A body without a (truthful) length is counted as it arrives, by Starlette's limiter, which FastAPI
        # turns into 413 while reading the body.
        await RequestBodyLimitMiddleware(self.app, limit)(scope, receive, send)


class AskConcurrencyLimit(HttpMiddleware):
    """429 when one client already has ``ask_concurrency_per_client`` answers in flight (streams included)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle(self, scope: Scope, receive: Receive, send: Send, settings: Settings) -> None:
        if scope["path"] != ASK_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        client = _client_key(scope, settings)
        limit = settings.ask_concurrency_per_client
        with self._lock:
            admitted = self._in_flight[client] < limit
            if admitted:
                self._in_flight[client] += 1
        if not admitted:
            detail = f"too many answers in progress for this client (limit {limit}); retry when one has finished"
            await send_json(send, 429, {"detail": detail}, {"Retry-After": "1"})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight[client] -= 1
                if self._in_flight[client] <= 0:
                    del self._in_flight[client]


def _client_key(scope: Scope, settings: Settings) -> str:
    """The peer address, plus the e-mail a trusted sign-in proxy names (many people share one proxy); a header
    from any other peer is not read, so varying it cannot buy more answers."""
    request = Request(scope)
    host = request.client.host if request.client else "unknown"
    if not request.app.state.auth.from_proxy(request):
        return host
    return f"{host} {request.headers.get(settings.auth.proxy_email_header, '').strip().lower()}"


def check_filters(filters: SearchFilters | None, settings: Settings) -> None:
    """422 (the validation error shape) when a filter list or one of its strings is over its limit."""
    if filters is None:
        return
    errors: list[dict[str, Any]] = []
    for name, values in (("sources", filters.sources), ("doc_ids", filters.doc_ids)):
        if values is None:
            continue
        loc = ("body", "filters", name)
        if len(values) > settings.max_filter_values:
            msg = f"at most {settings.max_filter_values} values (ASKDOCS_MAX_FILTER_VALUES), got {len(values)}"
            errors.append({"loc": loc, "msg": msg, "type": "too_long"})
        longest = max((len(v) for v in values), default=0)
        if longest > settings.max_filter_value_chars:
            msg = f"values of at most {settings.max_filter_value_chars} characters (ASKDOCS_MAX_FILTER_VALUE_CHARS)"
            errors.append({"loc": loc, "msg": msg, "type": "string_too_long"})
    if errors:
        raise RequestValidationError(errors)
