"""The peer baseline a LangChain user would build on the same chunks: ``EnsembleRetriever`` of ``BM25Retriever``
(rank_bm25, ``str.split`` preprocessing) and a Qdrant dense retriever (local in-memory mode), weights 0.5/0.5.

The dense side reuses the chunk vectors already in our index (scrolled with their vectors), so the baseline costs
no re-embedding; the same query embedder is wrapped as LangChain ``Embeddings``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import qdrant_edge as q
from langchain_core.embeddings import Embeddings

from askdocs.eval.beir import Run, RunResult
from askdocs.retrieval.embedders import Embedder
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.index.types import IndexFilter

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.retrievers import BM25Retriever

COLLECTION = "langchain"


class EmbedderEmbeddings(Embeddings):
    """An askdocs ``Embedder`` as LangChain ``Embeddings``."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Document vectors as lists."""
        return [[float(x) for x in row] for row in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        """Query vector as a list."""
        return [float(x) for x in self.embedder.embed_query(text)]


@dataclass
class ChunkRow:
    """One indexed chunk: point id, document id, the indexed text (title line + text) and its dense vector."""

    id: str
    doc_id: str
    text: str
    vector: list[float] | None


def indexed_text(payload: dict[str, Any]) -> str:
    """The text the index embeds and analyses (``Chunk.embed_text``), rebuilt from a payload."""
    title, heading = str(payload.get("title", "")), str(payload.get("heading", ""))
    head = title if not heading else f"{title} > {heading}"
    return f"{head}\n{payload.get('text', '')}"


def scroll_chunks(index: Index, vector_name: str, batch: int = 1000) -> list[ChunkRow]:
    """Every chunk of an Edge index with the ``vector_name`` vector (None where the chunk has another model's)."""
    backend = index.serving_backend
    if not isinstance(backend, EdgeBackend):
        raise TypeError("the LangChain baseline reads vectors from a Qdrant Edge index")
    shard = backend._open()
    flt = q.Filter(must=[q.FieldCondition(key="kind", match=q.MatchValue(IndexFilter().kind or "chunk"))])
    rows: list[ChunkRow] = []
    offset: Any = None
    for _ in range(10_000_000 // batch):  # bounded: at most 10M points
        records, offset = shard.scroll(
            q.ScrollRequest(offset=offset, limit=batch, filter=flt, with_payload=True, with_vector=[vector_name])
        )
        for r in records:
            payload = dict(r.payload or {})
            vectors: Any = r.vector or {}
            vec = vectors.get(vector_name) if isinstance(vectors, dict) else None
            rows.append(ChunkRow(str(r.id), str(payload["doc_id"]), indexed_text(payload), list(vec) if vec else None))
        if offset is None or not records:
            break
    rows.sort(key=lambda r: r.id)
    return rows


@dataclass
class LangChainBaseline:
    """The built ensemble and what building it cost."""

    retriever: Any
    chunks: int
    build_s: float
    embedded: int

    @property
    def chunks_per_s(self) -> float:
        """Build throughput (BM25 + vector upload; reused vectors are not re-embedded)."""
        return self.chunks / max(self.build_s, 1e-9)


def build_baseline(
    rows: list[ChunkRow], embedder: Embedder, k: int = 100, weights: tuple[float, float] = (0.5, 0.5)
) -> LangChainBaseline:
    """``EnsembleRetriever([BM25Retriever, QdrantVectorStore.as_retriever()])`` over ``rows``, ``k`` per leg."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient, models

    start = time.perf_counter()
    embeddings = EmbedderEmbeddings(embedder)
    missing = [i for i, r in enumerate(rows) if r.vector is None]
    if missing:  # chunks embedded by another language's model: embed them with this one, as a LangChain user would
        fresh = embeddings.embed_documents([rows[i].text for i in missing])
        for i, vec in zip(missing, fresh, strict=True):
            rows[i].vector = vec
    texts = [r.text for r in rows]
    metadatas = [{"doc_id": r.doc_id, "chunk_id": r.id} for r in rows]
    bm25 = BM25Retriever.from_texts(texts, metadatas=metadatas, k=k)
    client = QdrantClient(location=":memory:")
    dim = len(rows[0].vector or []) if rows else embedder.dim
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
    for at in range(0, len(rows), 512):
        client.upsert(
            COLLECTION,
            points=[
                models.PointStruct(id=r.id, vector=r.vector or [], payload={"page_content": t, "metadata": m})
                for r, t, m in zip(rows[at : at + 512], texts[at : at + 512], metadatas[at : at + 512], strict=True)
            ],
        )
    store = QdrantVectorStore(client=client, collection_name=COLLECTION, embedding=embeddings)
    dense = store.as_retriever(search_kwargs={"k": k})
    ensemble = EnsembleRetriever(retrievers=[bm25, dense], weights=list(weights))
    return LangChainBaseline(ensemble, len(rows), time.perf_counter() - start, len(missing))


def langchain_run(
    baseline: LangChainBaseline, queries: dict[str, str], depth: int = 100, extra_ms: dict[str, float] | None = None
) -> RunResult:
    """Run every query through the ensemble; documents ranked by their first chunk in the fused list."""
    run: Run = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        start = time.perf_counter()
        docs = baseline.retriever.invoke(text)
        latencies.append((time.perf_counter() - start) * 1000 + (extra_ms or {}).get(text, 0.0))
        ranked: list[str] = []
        for d in docs:
            doc_id = str(d.metadata["doc_id"])
            if doc_id not in ranked:
                ranked.append(doc_id)
        ranked = ranked[:depth]
        run[qid] = {doc_id: float(len(ranked) - i) for i, doc_id in enumerate(ranked)}
    return RunResult(run, latencies)
