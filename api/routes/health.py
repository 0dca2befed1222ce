"""Liveness and index status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict[str, Any]:
    """Service status, index backend and chunk count, and the embedders in use."""
    index = services.index
    return {
        "status": "ok",
        "backend": "qdrant-server" if services.settings.qdrant_url else "qdrant-edge",
        "chunks": index.count_chunks(),
        "embedders": {lang: e.name for lang, e in services.embedders.by_language.items()},
        "generator": services.answerer.name,
        "scheduler": services.scheduler is not None,
    }
