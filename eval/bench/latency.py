"""Query latency through HTTP: a live askdocs server on 127.0.0.1 (uvicorn in a thread) and N client threads.

``measure`` runs in a fresh process per index so its RSS belongs to that index alone.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import uvicorn

from askdocs.eval.bench.corpus import principals_for

# Callers of the latency runs: each an API key (as a bot or a proxy-less service calls askdocs), cycled per query.
CALLERS = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any, start_timeout_s: float = 60) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free 127.0.0.1 port; yields the base url."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start within {start_timeout_s} s")
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/mean of ``values`` (milliseconds), rounded."""
    if not values:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0}
    arr = np.asarray(values)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
        "mean_ms": round(float(arr.mean()), 2),
    }


def caller_keys(settings: Any) -> list[dict[str, str]]:
    """One API key per bench caller (created in the bench index's key store), as request headers."""
    from askdocs.api.auth.keys import KeyStore, key_principals

    store = KeyStore(settings.auth_dir / "keys.sqlite3")
    for key in store.list():
        if key.name.startswith("bench-caller-"):
            store.revoke(key.name)
    return [
        {"Authorization": f"Bearer {store.create(f'bench-caller-{i}', key_principals(principals_for(i)))}"}
        for i in range(CALLERS)
    ]


def run_clients(
    url: str, queries: list[str], clients: int, callers: list[dict[str, str]], top_k: int = 10
) -> dict[str, Any]:
    """Send every query once, spread over ``clients`` threads each with its own connection; bounded by len(queries)."""
    latencies: list[float] = []
    server_ms: list[float] = []
    hits: list[int] = []
    errors = [0]
    lock = threading.Lock()
    todo = iter(enumerate(queries))

    def client(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while True:
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                i, query = item
                t0 = time.perf_counter()
                response = http.post(
                    "/v1/search", json={"query": query, "top_k": top_k}, headers=callers[(i + worker) % len(callers)]
                )
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    if response.status_code != 200:
                        errors[0] += 1
                        continue
                    body = response.json()
                    latencies.append(elapsed)
                    server_ms.append(float(body.get("took_ms", 0.0)))
                    hits.append(len(body.get("hits", [])))

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "queries": len(latencies),
        "errors": errors[0],
        **percentiles(latencies),
        "server_took_p50_ms": percentiles(server_ms)["p50_ms"],
        "qps": round(len(latencies) / max(wall, 1e-9), 1),
        "mean_hits": round(float(np.mean(hits)) if hits else 0.0, 2),
    }


def _dense_recall(services: Any, queries: list[str], k: int = 10) -> float | None:
    """HNSW vs exact top-k overlap of the dense leg on this index (its vectors, real query embeddings)."""
    import qdrant_edge as q

    from askdocs.retrieval.analyzer import detect_language

    shard = services.index.backend._open()
    total = found = 0
    for i, query in enumerate(queries):
        embedder = services.embedders.for_language(detect_language(query))
        vector = embedder.embed_query(query).tolist()
        acl = principals_for(i % CALLERS)
        flt = q.Filter(
            must=[
                q.FieldCondition(key="kind", match=q.MatchValue("chunk")),
                q.FieldCondition(key="acl", match=q.MatchAny(any=acl)),
            ]
        )

        def top(exact: bool, vector: list[float] = vector, name: str = embedder.name, flt: Any = flt) -> set[str]:
            request = q.QueryRequest(
                limit=k, query=q.Query.Nearest(vector, using=name), filter=flt, params=q.SearchParams(exact=exact)
            )
            return {str(p.id) for p in shard.query(request)}

        truth = top(True)
        total += len(truth)
        found += len(truth & top(False))
    return round(found / total, 4) if total else None


def measure(data_dir: str, queries: list[str], clients: list[int], recall_queries: int = 0) -> dict[str, Any]:
    """Open the index in ``data_dir``, serve it, warm up, then run each client setting; RSS after the runs."""
    from askdocs.api.app import create_app
    from askdocs.app import Services
    from askdocs.eval.bench.build import settings_for

    process = psutil.Process()
    rss_start = process.memory_info().rss
    settings = settings_for(Path(data_dir))
    services = Services.build(settings)
    services.warm_up()
    callers = caller_keys(settings)
    out: dict[str, Any] = {"runs": []}
    try:
        with serve(create_app(settings, services)) as url:
            run_clients(url, queries[: min(10, len(queries))], 1, callers)  # warm-up: first-touch of pages and caches
            out["rss_after_warmup_bytes"] = process.memory_info().rss
            for n in clients:
                run = run_clients(url, queries, n, callers)
                out["runs"].append({**run, "rss_after_bytes": process.memory_info().rss})
            out["rss_bytes"] = process.memory_info().rss
        if recall_queries:
            out["dense_recall_at_10_vs_exact"] = _dense_recall(services, queries[:recall_queries])
    finally:
        services.close()
    out["rss_start_bytes"] = rss_start
    return out
