"""The LangChain peer baseline: ``EnsembleRetriever`` of ``BM25Retriever`` + a qdrant-client local-mode retriever.

Runs in a fresh process. Same chunk texts as the askdocs index, the same synthetic dense vectors recipe (English
model for every chunk: one embedder, as a LangChain user would set it up), the real embedder for queries.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from askdocs.eval.bench.corpus import iter_docs
from askdocs.eval.bench.latency import percentiles
from askdocs.eval.bench.vectors import VectorPool, synthetic

log = logging.getLogger("askdocs.eval.bench")


def measure_peer(
    size: int, seed: int, ja_share: float, pool_path: str, embedder_name: str, queries: list[str], k: int = 10
) -> dict[str, Any]:
    """Build the peer retriever over ``size`` chunks and time ``len(queries)`` queries (in-process, no HTTP)."""
    warnings.filterwarnings("ignore")
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_core.embeddings import Embeddings
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient, models

    from askdocs.retrieval.embedders import make_embedder

    embedder = make_embedder(embedder_name)
    embedder.warm_up()

    class QueryEmbeddings(Embeddings):
        """LangChain embeddings over the askdocs embedder (documents are pre-embedded)."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, row)) for row in embedder.embed_documents(texts)]

        def embed_query(self, text: str) -> list[float]:
            return [float(x) for x in embedder.embed_query(text)]

    pool = VectorPool.load(Path(pool_path)).rows[embedder_name]
    rng = np.random.default_rng([seed, size, 4])
    t0 = time.perf_counter()
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    for doc in iter_docs(seed, size, ja_share):
        for chunk_no, text in enumerate(doc.chunks):
            texts.append(text)
            metas.append({"doc_id": doc.id, "chunk_no": chunk_no, "acl": list(doc.acl)})
    bm25 = BM25Retriever.from_texts(texts, metadatas=metas, k=k)
    bm25_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    client = QdrantClient(location=":memory:")
    params = models.VectorParams(size=pool.shape[1], distance=models.Distance.COSINE)
    client.create_collection("peer", vectors_config=params)
    for start in range(0, len(texts), 2000):
        end = min(len(texts), start + 2000)
        vectors = synthetic(pool, end - start, rng)
        client.upsert(
            "peer",
            points=[
                models.PointStruct(
                    id=i, vector=vectors[i - start].tolist(), payload={"page_content": texts[i], "metadata": metas[i]}
                )
                for i in range(start, end)
            ],
        )
    qdrant_s = time.perf_counter() - t0
    store = QdrantVectorStore(client=client, collection_name="peer", embedding=QueryEmbeddings())
    ensemble = EnsembleRetriever(retrievers=[bm25, store.as_retriever(search_kwargs={"k": k})], weights=[0.5, 0.5])
    ensemble.invoke(queries[0])  # warm-up
    latencies: list[float] = []
    for query in queries:
        t0 = time.perf_counter()
        ensemble.invoke(query)
        latencies.append((time.perf_counter() - t0) * 1000)
    return {
        "chunks": len(texts),
        "queries": len(latencies),
        "bm25_build_s": round(bm25_s, 1),
        "qdrant_local_build_s": round(qdrant_s, 1),
        **percentiles(latencies),
        "rss_bytes": psutil.Process().memory_info().rss,
        "note": "in-process (no HTTP), no ACL filter, one English embedder for every chunk",
    }
