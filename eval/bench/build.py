"""Build a benchmark index of N chunks through the ``Index`` facade: real BM25 vectors, synthetic dense vectors.

Two copies per size: ``plain`` (as written: exact search) and ``hnsw`` (the same shard after ``Index.optimize()``).
A marker file with a fingerprint lets later runs reuse both.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.eval.bench.corpus import GENERATOR_VERSION, SynthDoc, iter_docs
from askdocs.eval.bench.vectors import NOISE, VectorPool, synthetic
from askdocs.retrieval.analyzer import _WORD, Analyzer
from askdocs.retrieval.index import CollectionSpec, Index, IndexedChunk
from askdocs.retrieval.index.bm25 import bm25_weights
from askdocs.settings import Settings

log = logging.getLogger("askdocs.eval.bench")
MARKER = "complete.json"
COLLECTION = "bench"
WRITE_BATCH = 64  # documents analysed and embedded together (avgdl is updated per batch, as the Indexer does)


def settings_for(folder: Path) -> Settings:
    """Settings of an index folder (embedded Edge, no scheduler, default models and fusion)."""
    return Settings(data_dir=folder, collection=COLLECTION, scheduler=False)


def folder_bytes(path: Path, apparent: bool = False) -> int:
    """Disk space the files under ``path`` occupy (allocated blocks, like ``du``; Edge preallocates sparse files)."""
    files = [p.stat() for p in path.rglob("*") if p.is_file()]
    return sum(st.st_size if apparent else st.st_blocks * 512 for st in files)


def copy_sparse(src: Path, dst: Path) -> None:
    """Copy a shard folder keeping sparse files sparse (``cp --sparse=always``), else a plain copy."""
    try:
        subprocess.run(["cp", "-a", "--sparse=always", str(src), str(dst)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def fingerprint(size: int, seed: int, ja_share: float, pool: VectorPool, dense: dict[str, int]) -> str:
    """What an index holds: generator, size, seed, language share, vector pool, vector names."""
    key = json.dumps([GENERATOR_VERSION, size, seed, ja_share, pool.fingerprint(), dense, NOISE], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _payload(doc: SynthDoc, chunk_no: int, text: str, content_hash: str) -> dict[str, Any]:
    """The payload ``ingest.sync`` writes for a chunk."""
    updated = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(doc.updated_ts))
    return {
        "source": doc.source,
        "url": f"https://example.com/{doc.source}/{doc.doc_no}",
        "author": None,
        "updated_at": updated,
        "updated_ts": doc.updated_ts,
        "acl": list(doc.acl),
        "content_hash": content_hash,
        "metadata": {},
        "doc_id": doc.id,
        "chunk_no": chunk_no,
        "title": doc.title,
        "heading": f"Part {chunk_no + 1}",
        "text": text,
        "language": doc.language,
        "embedding_hash": content_hash,
    }


def _write_batch(
    index: Index,
    docs: list[SynthDoc],
    english: Callable[[str], list[str]],
    analyzer: Analyzer,
    pool: VectorPool,
    names: dict[str, str],
    rng: np.random.Generator,
    timings: dict[str, float],
    extra: dict[str, list[tuple[str, str]]],
) -> int:
    t0 = time.perf_counter()
    texts = [(d, i, f"{d.title}\nPart {i + 1}\n{t}") for d in docs for i, t in enumerate(d.chunks)]
    terms = [analyzer.terms(text, "ja") if d.language == "ja" else english(text) for d, _, text in texts]
    n, total = index.bm25_stats()
    avgdl = (total + sum(len(t) for t in terms)) / max(1, n + len(texts))
    t1 = time.perf_counter()
    vectors: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for lang, name in names.items():
        counts[name] = counts.get(name, 0) + sum(1 for d, _, _ in texts if d.language == lang)
    for name, count in counts.items():
        vectors[name] = synthetic(pool.rows[name], count, rng)
    for lang, wanted in extra.items():  # the multilingual vectors (text, heading trail) the default writes too
        for vector_name, model in wanted:
            count = sum(1 for d, _, _ in texts if d.language == lang)
            vectors[f"{lang}:{vector_name}"] = synthetic(pool.rows[model], count, rng)
    extra_used = dict.fromkeys(vectors, 0)
    t2 = time.perf_counter()
    used = dict.fromkeys(counts, 0)
    position = 0
    for doc in docs:
        name = names[doc.language]
        chunks = []
        for chunk_no, text in enumerate(doc.chunks):
            ids, values, dl = bm25_weights(terms[position], avgdl)
            position += 1
            dense = vectors[name][used[name]].tolist()
            used[name] += 1
            content_hash = hashlib.sha256(f"{doc.id}\x00{chunk_no}".encode()).hexdigest()[:16]
            more = {}
            for vector_name, _ in extra.get(doc.language, []):
                key = f"{doc.language}:{vector_name}"
                more[vector_name] = vectors[key][extra_used[key]].tolist()
                extra_used[key] += 1
            chunk = IndexedChunk(_payload(doc, chunk_no, text, content_hash), name, dense, (ids, values), dl,
                                 extra_dense=more)  # fmt: skip
            chunks.append(chunk)
        index.write_document(doc.id, chunks)
    t3 = time.perf_counter()
    timings["analyze_s"] += t1 - t0
    timings["vectors_s"] += t2 - t1
    timings["write_s"] += t3 - t2
    return position


def cached_english(analyzer: Analyzer) -> Callable[[str], list[str]]:
    """``analyzer.terms(text, "en")`` with a per-word memo (the English path analyses word by word; ASCII text)."""
    memo: dict[str, str | None] = {}

    def terms(text: str) -> list[str]:
        out: list[str] = []
        for word in _WORD.findall(text):
            term = memo.get(word, "")
            if term == "":
                term = memo[word] = analyzer._english_term(word)
            if term:
                out.append(term)
        return out

    return terms


def build(
    size: int,
    workdir: Path,
    seed: int,
    ja_share: float,
    pool: VectorPool,
    names: dict[str, str],
    dense: dict[str, int],
    reuse: bool = True,
    extra: dict[str, list[tuple[str, str]]] | None = None,
) -> dict[str, Any]:
    """Build (or reuse) the ``plain`` and ``hnsw`` indexes of ``size`` chunks under ``workdir/size-<size>``.

    ``extra``: per language, further (vector name, pool model) pairs each chunk gets (the multilingual vectors).
    """
    extra = extra or {}
    folder = workdir / f"size-{size}"
    marker = folder / MARKER
    fp = fingerprint(size, seed, ja_share, pool, dense)
    if reuse and marker.exists():
        stats = json.loads(marker.read_text())
        if stats.get("fingerprint") == fp:
            log.info("size %d: reusing indexes in %s", size, folder)
            return {**stats, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plain = settings_for(folder / "plain")
    index = Index.open(plain)
    index.ensure(CollectionSpec(dense=dense))
    analyzer = Analyzer()
    english = cached_english(analyzer)
    rng = np.random.default_rng([seed, size, 3])
    timings = {"generate_s": 0.0, "analyze_s": 0.0, "vectors_s": 0.0, "write_s": 0.0}
    start = time.perf_counter()
    written = n_docs = 0
    batch: list[SynthDoc] = []
    last_log = start
    t_gen = time.perf_counter()
    for doc in iter_docs(seed, size, ja_share):
        batch.append(doc)
        n_docs += 1
        if len(batch) >= WRITE_BATCH:
            timings["generate_s"] += time.perf_counter() - t_gen
            written += _write_batch(index, batch, english, analyzer, pool, names, rng, timings, extra)
            batch = []
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                log.info("size %d: %d chunks written (%.0f/s)", size, written, written / (last_log - start))
            t_gen = time.perf_counter()
    if batch:
        timings["generate_s"] += time.perf_counter() - t_gen
        written += _write_batch(index, batch, english, analyzer, pool, names, rng, timings, extra)
    index.flush()
    count = index.count_chunks()
    index.close()
    build_s = time.perf_counter() - start
    log.info("size %d: %d chunks in %.0f s; copying and optimising", size, count, build_s)
    copy_sparse(folder / "plain", folder / "hnsw")
    hnsw_settings = settings_for(folder / "hnsw")
    hnsw = Index.open(hnsw_settings)
    t0 = time.perf_counter()
    hnsw.optimize()
    optimize_s = time.perf_counter() - t0
    info = hnsw.backend._open().info()  # type: ignore[attr-defined]
    indexed_vectors = int(info.indexed_vectors_count)
    hnsw.close()
    stats = {
        "fingerprint": fp,
        "size": size,
        "chunks": count,
        "documents": n_docs,
        "build_s": round(build_s, 1),
        "build_chunks_per_s": round(count / max(build_s, 1e-9), 1),
        **{k: round(v, 1) for k, v in timings.items()},
        "optimize_s": round(optimize_s, 1),
        "hnsw_indexed_vectors": indexed_vectors,
        "disk_bytes_plain": folder_bytes(plain.edge_path),
        "disk_bytes_hnsw": folder_bytes(hnsw_settings.edge_path),
        "disk_apparent_bytes_plain": folder_bytes(plain.edge_path, apparent=True),
        "disk_apparent_bytes_hnsw": folder_bytes(hnsw_settings.edge_path, apparent=True),
    }
    marker.write_text(json.dumps(stats, indent=2))
    log.info("size %d: built %s", size, stats)
    return {**stats, "reused": False}
