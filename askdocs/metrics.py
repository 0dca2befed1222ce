"""Prometheus metrics, in a registry of askdocs's own (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SYNC_RUNS = Counter(
    "askdocs_sync_runs_total", "Sync runs by source, kind and outcome.", ["source", "kind", "status"], registry=REGISTRY
)
SYNC_DURATION = Histogram(
    "askdocs_sync_duration_seconds",
    "Duration of sync runs.",
    ["source", "kind"],
    buckets=(0.5, 1, 5, 15, 60, 300, 900, 3600),
    registry=REGISTRY,
)
SYNC_DOCUMENTS = Counter(
    "askdocs_sync_documents_total",
    "Documents written or removed by sync runs.",
    ["source", "action"],
    registry=REGISTRY,
)
SYNC_FAILURES = Counter(
    "askdocs_sync_failures_total", "Failures reported by connectors.", ["source"], registry=REGISTRY
)
INDEX_CHUNKS = Gauge("askdocs_index_chunks", "Chunks in the index.", registry=REGISTRY)
REQUEST_LATENCY = Histogram(
    "askdocs_request_duration_seconds",
    "API request latency by route.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
# Families that count documents or chunks, restricted ones included: shown to the admin principal only.
ADMIN_ONLY_METRICS = frozenset({"askdocs_index_chunks", "askdocs_sync_documents"})
