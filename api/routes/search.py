"""Search endpoint."""

from __future__ import annotations

import time

from fastapi import APIRouter

from askdocs.api.deps import PrincipalsDep, ServicesDep
from askdocs.api.limits import check_filters
from askdocs.api.schemas import SearchRequest, SearchResponse
from askdocs.api.security import public_hits

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search")
def search(body: SearchRequest, services: ServicesDep, principals: PrincipalsDep) -> SearchResponse:
    """Hybrid search over the documents the caller may see."""
    started = time.perf_counter()
    check_filters(body.filters, services.settings)
    hits = services.retriever.search(body.query, principals, body.filters, top_k=body.top_k, mode=body.mode)
    hits = public_hits(hits)
    return SearchResponse(query=body.query, hits=hits, took_ms=round((time.perf_counter() - started) * 1000, 2))
