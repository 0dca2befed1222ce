"""Prometheus metrics at ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from askdocs.api.deps import AdminDep, ServicesDep
from askdocs.metrics import INDEX_CHUNKS, REGISTRY

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False, dependencies=[AdminDep])
def metrics(services: ServicesDep) -> Response:
    """Runs, durations, documents, failures, index size and request latency (admin only: counts include
    restricted documents)."""
    INDEX_CHUNKS.set(services.index.count_chunks())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
