"""Ingest throughput of the real pipeline (``Indexer.write``) against the bare embedder on the same chunks."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.eval.bench.corpus import SynthDoc, iter_docs
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend

log = logging.getLogger("askdocs.eval.bench")
BATCH_DOCS = 32  # the Indexer's default batch


def _docs(seed: int, language: str, n_chunks: int) -> list[SynthDoc]:
    """Documents of one language (from a corpus seed of their own) holding about ``n_chunks`` generated chunks."""
    share = 1.0 if language == "ja" else 0.0
    return list(iter_docs(seed + 1000, n_chunks, ja_share=share))


def measure_ingest(
    embedders: LanguageEmbedders, workdir: Path, seed: int, n_chunks: int, chunk_tokens: int = 200, overlap: int = 30
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per model: chunks/s of the bare embedder and of ``Indexer.write`` on the same documents, interleaved per batch.

    Returns the figures and the bare embeddings per model (the real-vector pool for synthetic indexes).
    """
    embedders.warm_up()
    analyzer = Analyzer()
    analyzer.terms("warm up", "en")
    analyzer.terms("ウォームアップ", "ja")
    chunker = Chunker(embedders.for_language, chunk_tokens, overlap)
    results: dict[str, Any] = {}
    pool: dict[str, np.ndarray] = {}
    for language in ("en", "ja"):
        embedder = embedders.for_language(language)
        docs = [d.document() for d in _docs(seed, language, max(1, n_chunks // 2))]
        folder = workdir / f"ingest-{language}"
        shutil.rmtree(folder, ignore_errors=True)
        index = Index(EdgeBackend(folder / "edge"))
        indexer = Indexer(index, embedders, chunker, analyzer, batch_docs=BATCH_DOCS)
        indexer.ensure_index()
        bare_s = pipe_s = 0.0
        chunks = 0
        rows: list[np.ndarray] = []
        for start in range(0, len(docs), BATCH_DOCS):
            batch = docs[start : start + BATCH_DOCS]
            texts = [c.embed_text for d in batch for c in chunker.chunk(d)]  # untimed: the bare side gets chunks
            t0 = time.perf_counter()
            rows.append(embedder.embed_documents(texts))
            bare_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            indexer.write(batch)
            pipe_s += time.perf_counter() - t0
            chunks += len(texts)
        index.close()
        bare = chunks / max(bare_s, 1e-9)
        pipe = chunks / max(pipe_s, 1e-9)
        results[embedder.name] = {
            "language": language,
            "documents": len(docs),
            "chunks": chunks,
            "bare_chunks_per_s": round(bare, 2),
            "pipeline_chunks_per_s": round(pipe, 2),
            "pipeline_share_of_bare": round(pipe / bare, 3),
        }
        log.info("ingest %s: %s", embedder.name, results[embedder.name])
        pool[embedder.name] = np.concatenate(rows) if rows else np.zeros((0, embedder.dim), np.float32)
        shutil.rmtree(folder, ignore_errors=True)
    total_chunks = sum(r["chunks"] for r in results.values())
    results["overall_pipeline_share_of_bare"] = (
        round(
            sum(r["chunks"] / r["bare_chunks_per_s"] for r in results.values())
            / max(sum(r["chunks"] / r["pipeline_chunks_per_s"] for r in results.values()), 1e-9),
            3,
        )
        if total_chunks
        else None
    )
    return results, pool
