"""``python -m askdocs.eval.bench.sizing``: memory and disk per million chunks, measured at two sizes and projected.

Each (engine, size) runs in a fresh process: it writes ``size`` chunks shaped as ``ingest.sync`` stores them (the
payload of ``retrieval.index.payload``, ~1,000 characters of text, a 384-dimension dense vector as the default
English model gives, a BM25 sparse vector of ~70 terms) through the ``IndexBackend``, builds the HNSW graph, then
reopens the collection in another fresh process and runs filtered hybrid queries. Memory is that reader's RSS
growth (what a serving process pays for the index), disk the allocated blocks of the collection's folder. Engines:
``edge`` (Qdrant Edge, the embedded default) and ``local`` (qdrant-client's local mode, standing in for a Qdrant
server where none is installed: it keeps everything in Python memory and pickles points to SQLite, so its figures
bound a server from above rather than measure one). The projection per million chunks is the slope between the
two sizes (the fixed cost of an empty collection left out).

Example::

    .venv/bin/python -m askdocs.eval.bench.sizing --sizes 100000,200000 --engines edge,local
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.eval.bench.build import folder_bytes
from askdocs.retrieval.index.types import CollectionSpec, HybridQuery, IndexBackend, IndexFilter, IndexPoint

DIM = 384  # the default English model (MiniLM-L6)
TERMS = 70  # distinct BM25 terms of a 200-token chunk
VOCAB = 200_000  # hashed term ids spread over this many values
BATCH = 512
WORDS = np.array([f"w{i}" for i in range(5000)])


def _backend(engine: str, folder: Path) -> IndexBackend:
    if engine == "edge":
        from askdocs.retrieval.index.edge import EdgeBackend

        return EdgeBackend(folder / "edge")
    from qdrant_client import QdrantClient

    from askdocs.retrieval.index.server import ServerBackend

    return ServerBackend(QdrantClient(path=str(folder / "local")), "sizing")


def _points(rng: np.random.Generator, start: int, n: int) -> list[IndexPoint]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = []
    for i in range(n):
        no = start + i
        doc = no // 8
        ids = np.unique(rng.zipf(1.3, TERMS * 2) % VOCAB)[:TERMS]
        text = " ".join(WORDS[rng.integers(0, len(WORDS), 180)])
        payload = {
            "kind": "chunk", "source": ("files", "slack", "confluence", "gdrive")[doc % 4],
            "url": f"https://example.com/doc/{doc}", "author": None,
            "updated_at": "2026-01-01T00:00:00+00:00", "updated_ts": 1767225600.0 + doc,
            "acl": [f"group:g{doc % 6}"], "content_hash": f"{no:064x}", "metadata": {"path": f"f{doc % 50}/d{doc}.md"},
            "container": f"folder:f{doc % 50}", "doc_id": f"files:d{doc}", "chunk_no": no % 8,
            "title": f"Document {doc}", "heading": f"Part {no % 8}", "text": text, "language": "en",
            "embedding_hash": f"{no:064x}", "location": None, "dl": 180, "bm25_avgdl": 180.0,
        }  # fmt: skip
        point_id = f"{no // (1 << 48):08x}-0000-4000-8000-{no % (1 << 48):012x}"
        out.append(IndexPoint(point_id, payload, {"en": vectors[i].tolist()}, (ids.tolist(), [1.0] * len(ids))))
    return out


def write(engine: str, folder: Path, size: int) -> dict[str, Any]:
    """Write ``size`` chunks and build the HNSW graph; seconds taken."""
    backend = _backend(engine, folder)
    backend.ensure(CollectionSpec(dense={"en": DIM}))
    rng = np.random.default_rng(size)
    t0 = time.perf_counter()
    for start in range(0, size, BATCH):
        backend.upsert(_points(rng, start, min(BATCH, size - start)))
    written = time.perf_counter() - t0
    backend.flush()
    backend.optimize()
    count = backend.count(IndexFilter())
    backend.close()
    return {"chunks": count, "write_s": round(written, 1), "optimize_s": round(time.perf_counter() - t0 - written, 1)}


def read(engine: str, folder: Path, queries: int = 50) -> dict[str, Any]:
    """Open the collection and run filtered hybrid queries; RSS growth over the process before it opened."""
    import psutil

    process = psutil.Process()
    before = process.memory_info().rss
    backend = _backend(engine, folder)
    rng = np.random.default_rng(7)
    for i in range(queries):
        dense = rng.standard_normal(DIM)
        sparse = np.unique(rng.zipf(1.3, 8) % VOCAB).tolist()
        flt = IndexFilter(acl_any=(f"group:g{i % 6}", "public"))
        backend.query(
            HybridQuery(limit=10, dense=("en", (dense / np.linalg.norm(dense)).tolist()),
                        sparse=(sparse, [1.0] * len(sparse)), filter=flt)
        )  # fmt: skip
    rss = process.memory_info().rss - before
    backend.close()
    return {"rss_bytes": rss}


def _fresh(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def measure(engine: str, size: int, workdir: Path) -> dict[str, Any]:
    """One engine at one size, each step in a fresh process."""
    folder = workdir / f"{engine}-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = {"engine": engine, "size": size, **_fresh(write, engine, folder, size), **_fresh(read, engine, folder)}
    out["disk_bytes"] = folder_bytes(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown sizing table: measured MB at each size, and the slope projected to 1M and 10M chunks."""
    lines = [
        "| engine | chunks | RSS MB | disk MB | per 1M chunks: RAM / disk GB | 10M chunks: RAM / disk GB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for engine in dict.fromkeys(r["engine"] for r in results):
        rows = sorted((r for r in results if r["engine"] == engine), key=lambda r: r["size"])
        slope: tuple[float, float] | None = None
        if len(rows) >= 2:
            low, high = rows[0], rows[-1]
            span = (high["size"] - low["size"]) / 1e6
            slope = (
                (high["rss_bytes"] - low["rss_bytes"]) / span / 1e9,
                (high["disk_bytes"] - low["disk_bytes"]) / span / 1e9,
            )
        for r in rows:
            projected = f"{slope[0]:.2f} / {slope[1]:.2f}" if slope and r is rows[-1] else ""
            ten = f"{slope[0] * 10:.1f} / {slope[1] * 10:.1f}" if slope and r is rows[-1] else ""
            lines.append(
                f"| {engine} | {r['size']:,} | {r['rss_bytes'] / 1e6:,.0f} | {r['disk_bytes'] / 1e6:,.0f} "
                f"| {projected} | {ten} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print one JSON line per measurement, then the Markdown table."""
    p = argparse.ArgumentParser(prog="python -m askdocs.eval.bench.sizing", description=__doc__)
    p.add_argument("--sizes", default="100000,200000", help="chunks, comma-separated (two or more for a slope)")
    p.add_argument("--engines", default="edge,local", help="edge and/or local (qdrant-client's local mode)")
    p.add_argument("--workdir", type=Path, default=None, help="where the collections are written (then removed)")
    args = p.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="askdocs-sizing-", dir=args.workdir) as tmp:
        for engine in args.engines.split(","):
            for size in (int(s) for s in args.sizes.split(",")):
                result = measure(engine.strip(), size, Path(tmp))
                print(json.dumps(result), flush=True)
                results.append(result)
    print(table(results))


if __name__ == "__main__":
    main()
