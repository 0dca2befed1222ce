"""Search endpoint."""

from __future__ import annotations

import time

from fastapi import APIRouter

from api.deps import PrincipalsDep, ServicesDep
from api.schemas import SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search")
def search(body: SearchRequest, services: ServicesDep, principals: PrincipalsDep) -> SearchResponse:
    """Hybrid search over the documents the caller may see."""
    started = time.perf_counter()
    hits = services.retriever.search(body.query, principals, body.filters, top_k=body.top_k, mode=body.mode)
    return SearchResponse(query=body.query, hits=hits, took_ms=round((time.perf_counter() - started) * 1000, 2))
