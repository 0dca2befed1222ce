"""HNSW recall@10 against exact search, on an Edge shard of REAL embeddings (cached under the workdir)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as q

from askdocs.eval.bench.corpus import GENERATOR_VERSION, iter_docs, make_queries
from askdocs.retrieval.embedders import Embedder

log = logging.getLogger("askdocs.eval.bench")
VECTOR = "dense"
EF_SWEEP = (64, 128, 256)  # search-time hnsw_ef values also reported (the default is the engine's)


def real_vectors(embedder: Embedder, workdir: Path, seed: int, n_chunks: int, ja_share: float) -> np.ndarray:
    """Embeddings of the first ``n_chunks`` chunks of a corpus, computed once and cached as ``.npy``."""
    key = hashlib.sha256(f"{GENERATOR_VERSION}|{embedder.name}|{seed}|{n_chunks}|{ja_share}".encode()).hexdigest()[:12]
    path = workdir / f"recall-vectors-{key}.npy"
    if path.exists():
        return np.load(path)  # type: ignore[no-any-return]
    texts = [t for doc in iter_docs(seed + 2000, n_chunks, ja_share) for t in doc.chunks]
    start = time.perf_counter()
    rows = [embedder.embed_documents(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    log.info("recall: embedded %d chunks with %s in %.0f s", len(texts), embedder.name, time.perf_counter() - start)
    vectors = np.concatenate(rows).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _top(shard: Any, vector: list[float], k: int, exact: bool, ef: int | None = None) -> tuple[list[str], float]:
    params = q.SearchParams(exact=exact, hnsw_ef=ef)
    request = q.QueryRequest(limit=k, query=q.Query.Nearest(vector, using=VECTOR), params=params)
    t0 = time.perf_counter()
    points = shard.query(request)
    return [str(p.id) for p in points], (time.perf_counter() - t0) * 1000


def hnsw_recall(
    embedder: Embedder, workdir: Path, seed: int, n_chunks: int, n_queries: int, ja_share: float, k: int = 10
) -> dict[str, Any]:
    """Index real vectors in a fresh shard, optimise (HNSW, default m/ef), compare top-k with exact search."""
    embedder.warm_up()
    vectors = real_vectors(embedder, workdir, seed, n_chunks, ja_share)
    queries = make_queries(seed + 2000, max(1, n_chunks // 5), n_queries, ja_share)
    qvecs = [embedder.embed_query(text).tolist() for text in queries]
    folder = workdir / "recall-shard"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = q.EdgeConfig(
        vectors={VECTOR: q.EdgeVectorParams(size=vectors.shape[1], distance=q.Distance.Cosine)},
        optimizers=q.EdgeOptimizersConfig(indexing_threshold=1),  # KB: index even a small shard with HNSW
    )
    shard = q.EdgeShard.create(str(folder), config)
    try:
        for start in range(0, len(vectors), 1000):
            end = min(len(vectors), start + 1000)
            points = [q.Point(i, {VECTOR: vectors[i].tolist()}, {}) for i in range(start, end)]
            shard.update(q.UpdateOperation.upsert_points(points))
        t0 = time.perf_counter()
        shard.optimize()
        optimize_s = time.perf_counter() - t0
        indexed = int(shard.info().indexed_vectors_count)
        found = total = 0
        found_ef = dict.fromkeys(EF_SWEEP, 0)
        exact_ms: list[float] = []
        hnsw_ms: list[float] = []
        for vector in qvecs:
            truth, ms_exact = _top(shard, vector, k, exact=True)
            approx, ms_hnsw = _top(shard, vector, k, exact=False)
            exact_ms.append(ms_exact)
            hnsw_ms.append(ms_hnsw)
            total += len(truth)
            found += len(set(truth) & set(approx))
            for ef in EF_SWEEP:
                found_ef[ef] += len(set(truth) & set(_top(shard, vector, k, exact=False, ef=ef)[0]))
    finally:
        shard.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "embedder": embedder.name,
        "vectors": "real",
        "points": len(vectors),
        "queries": len(qvecs),
        "hnsw_indexed_vectors": indexed,
        "optimize_s": round(optimize_s, 2),
        f"recall_at_{k}": round(found / max(total, 1), 4),
        f"recall_at_{k}_by_hnsw_ef": {str(ef): round(found_ef[ef] / max(total, 1), 4) for ef in EF_SWEEP},
        "exact_p50_ms": round(float(np.median(exact_ms)), 3) if exact_ms else None,
        "hnsw_p50_ms": round(float(np.median(hnsw_ms)), 3) if hnsw_ms else None,
    }
