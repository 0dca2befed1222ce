"""The FastAPI application: routes, start-up warm-up, readable errors."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from askdocs import __version__
from askdocs.api.auth import session
from askdocs.api.limits import AskConcurrencyLimit, BodySizeLimit, method_label
from askdocs.api.openapi import install_openapi
from askdocs.api.routes import ask, feedback, health, mcp, metrics, reindex, search, sources, ui
from askdocs.api.security import WebHardening
from askdocs.app import Services
from askdocs.errors import AskdocsError, IndexDamaged
from askdocs.ingest.integrity import SUMMARY
from askdocs.metrics import REQUEST_LATENCY
from askdocs.redaction import redact
from askdocs.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _readable(exc: RequestValidationError) -> dict[str, Any]:
    """The 422 body (``ValidationErrorBody``): the problems joined in words, and each one."""
    messages, errors = [], []
    for error in exc.errors():
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        where = ".".join(str(p) for p in loc if p != "body") or "body"
        msg = str(error.get("msg", "invalid value"))
        messages.append(f"{where}: {msg}")
        errors.append({"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))})
    return {"detail": "; ".join(messages), "errors": errors}


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; ``services`` may be given (tests), else built from ``settings`` at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.build(settings or get_settings())
        app.state.services.warm_up()
        if owned:
            app.state.services.check_index()
        app.state.services.start_following()  # server mode: switches made by `askdocs reindex` elsewhere
        if owned and app.state.services.settings.scheduler:
            app.state.services.start_scheduler()  # embedded mode: only this process may write the index
        try:
            async with app.state.mcp.session_manager.run():
                yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="askdocs",
        version=__version__,
        description="Hybrid search and cited answers over your company's documents, filtered by access rights.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(search.router)
    app.include_router(ask.router)
    app.include_router(ui.router)
    app.include_router(feedback.router)
    app.mount("/static", ui.static_files, name="static")
    app.include_router(sources.router)
    app.include_router(metrics.router)
    mcp.install(app)
    session.install(app, settings or (services.settings if services else get_settings()))
    app.include_router(reindex.router)

    @app.middleware("http")
    async def _timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        method = method_label(request.method)
        REQUEST_LATENCY.labels(path, method, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    # Limits and web hardening (api/limits.py, api/security.py); the last added runs first.
    app.add_middleware(AskConcurrencyLimit)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(WebHardening)
    install_openapi(app)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=_readable(exc))

    @app.exception_handler(AskdocsError)
    async def _not_ready(request: Request, exc: AskdocsError) -> JSONResponse:
        log.error("request failed: %s", exc)
        if isinstance(exc, IndexDamaged):  # the detail names server paths: the log has it
            return JSONResponse(status_code=503, content={"detail": SUMMARY["unreadable"]})
        return JSONResponse(status_code=503, content={"detail": f"service not ready: {redact(str(exc))}"})

    return app
