"""Liveness and index status: 503 with a reason while the index is missing, damaged or being repaired."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from askdocs.api.deps import PrincipalsDep, ServicesDep
from askdocs.api.schemas import ErrorBody
from askdocs.ingest.integrity import SUMMARY
from askdocs.models import ADMIN

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    responses={503: {"model": ErrorBody, "description": "The index is missing, damaged or being repaired."}},
)
def healthz(services: ServicesDep, principals: PrincipalsDep) -> Any:
    """Service status, index backend and the embedders in use; the chunk count and problem detail for the admin."""
    admin = ADMIN in principals
    status: dict[str, Any] = {
        "status": "ok",
        "backend": "qdrant-server" if services.settings.qdrant_url else "qdrant-edge",
        "embedders": {lang: e.name for lang, e in services.embedders.by_language.items()},
        "generator": services.answerer.name,
        "scheduler": services.scheduler is not None,
    }
    problem = services.index_problem()
    if problem is not None:
        status |= {"status": "unavailable", "index": problem.kind, "detail": SUMMARY[problem.kind]}
        if admin:
            status["problem"] = problem.detail
        return JSONResponse(status_code=503, content=status)
    if admin:
        status["chunks"] = services.index.count_chunks()
    return status
