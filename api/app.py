"""The FastAPI application: routes, start-up warm-up, readable errors."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from api.auth import session
from api.routes import ask, health, mcp, metrics, search, sources, ui
from api.services import Services
from askdocs import __version__
from askdocs.metrics import REQUEST_LATENCY
from askdocs.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _readable(exc: RequestValidationError) -> str:
    messages = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        messages.append(f"{where}: {error.get('msg', 'invalid value')}")
    return "; ".join(messages)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; ``services`` may be given (tests), else built from ``settings`` at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or Services.build(settings or get_settings())
        app.state.services.warm_up()
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
    app.include_router(sources.router)
    app.include_router(metrics.router)
    mcp.install(app)
    session.install(app, settings or (services.settings if services else get_settings()))

    @app.middleware("http")
    async def _timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        REQUEST_LATENCY.labels(path, request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _readable(exc)})

    @app.exception_handler(ValueError)
    async def _config_error(request: Request, exc: ValueError) -> JSONResponse:
        log.error("request failed: %s", exc)
        return JSONResponse(status_code=503, content={"detail": f"service not ready: {exc}"})

    return app
