"""Prometheus metrics at ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric

from api.deps import PrincipalsDep, ServicesDep
from askdocs.metrics import ADMIN_ONLY_METRICS, INDEX_CHUNKS, REGISTRY
from askdocs.models import ADMIN

router = APIRouter(tags=["health"])


class _WithoutAdminOnly:
    """The registry minus the families that count documents (restricted ones included)."""

    def collect(self) -> Iterable[Metric]:
        return [family for family in REGISTRY.collect() if family.name not in ADMIN_ONLY_METRICS]


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep, principals: PrincipalsDep) -> Response:
    """Runs, durations, failures and request latency; index size and document counts for the admin principal."""
    if ADMIN not in principals:
        return Response(generate_latest(_WithoutAdminOnly()), media_type=CONTENT_TYPE_LATEST)  # type: ignore[arg-type]
    INDEX_CHUNKS.set(services.index.count_chunks())
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
