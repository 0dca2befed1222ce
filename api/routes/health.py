"""Liveness and index status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import PrincipalsDep, ServicesDep
from askdocs.models import ADMIN

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(services: ServicesDep, principals: PrincipalsDep) -> dict[str, Any]:
    """Service status, index backend and the embedders in use; the chunk count for the admin principal only."""
    status = {
        "status": "ok",
        "backend": "qdrant-server" if services.settings.qdrant_url else "qdrant-edge",
        "embedders": {lang: e.name for lang, e in services.embedders.by_language.items()},
        "generator": services.answerer.name,
        "scheduler": services.scheduler is not None,
    }
    if ADMIN in principals:
        status["chunks"] = services.index.count_chunks()
    return status
