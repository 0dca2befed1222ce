"""``python -m askdocs.eval.bench.sizing``: memory and disk per million chunks, measured at two sizes and projected.

Each (engine, layout, size) runs in a fresh process: it writes ``size`` chunks shaped as ``ingest.sync`` stores them
with the default models (the payload of ``retrieval.index.payload``, ~1,000 characters of English or ~300 of
Japanese text; 80% English chunks carrying the English model's vector, the multilingual (USE) vector of their text
and of their heading trail, 20% Japanese ones whose own model is the multilingual one, so they carry those two; the
named vectors and sizes come from the default settings' embedders; a BM25 sparse vector of ~70 terms) through the
``IndexBackend``, builds the HNSW graph, then reopens the collection in another fresh process and runs filtered
hybrid queries with the cross-lingual block. Memory is that reader's RSS growth (what a serving process pays for
the index), disk the allocated blocks of the collection's folder. Engines: ``edge`` (Qdrant Edge, the embedded
default) and ``local`` (qdrant-client's local mode, standing in for a Qdrant server where none is installed: it
keeps everything in Python memory and pickles points to SQLite, so its figures bound a server from above rather
than measure one). Layouts (``ASKDOCS_QDRANT_*``, Edge only): ``default``; ``int8`` (scalar quantisation, the
originals still in RAM); ``int8-on-disk`` (int8 in RAM, the original vectors memory-mapped for rescoring). The
projection per million chunks is the slope between the two sizes (the fixed cost of an empty collection left out).

Example::

    .venv/bin/python -m askdocs.eval.bench.sizing --sizes 100000,200000 --engines edge --layouts default,int8-on-disk
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
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.eval.bench.build import folder_bytes
from askdocs.retrieval.index.payload import ChunkPayload
from askdocs.retrieval.index.types import (
    BM25_AVGDL,
    CollectionSpec,
    HybridQuery,
    IndexBackend,
    IndexFilter,
    IndexPoint,
    OtherLanguageBlock,
    StorageLayout,
)

TERMS = 70  # distinct BM25 terms of a 200-token chunk
VOCAB = 200_000  # hashed term ids spread over this many values
BATCH = 512
JA_SHARE = 0.2
WORDS = np.array([f"w{i}" for i in range(5000)])
JA_WORDS = np.array(
    "会議 資料 申請 承認 経費 精算 出張 契約 顧客 製品 開発 設計 品質 試験 障害 対応 手順 規定 休暇 給与 "
    "評価 目標 予算 計画 報告 分析 売上 在庫 発注 納品 請求 支払 社員 部署 管理 情報 安全 認証 権限 更新 "
    "の は を に で と から".split()
)
LAYOUTS = {
    "default": StorageLayout(),
    "int8": StorageLayout(quantization="int8"),
    "int8-on-disk": StorageLayout(on_disk_vectors=True, quantization="int8"),
}


@cache
def _vectors() -> tuple[dict[str, int], dict[str, list[str]]]:
    """The collection's named dense vectors (name -> size) and the names a chunk carries, per language, as the
    default settings' embedders give them (no model is loaded)."""
    from askdocs.retrieval.embedders import LanguageEmbedders
    from askdocs.settings import Settings

    settings = Settings()
    embedders = LanguageEmbedders.from_names(settings.embedder_en, settings.embedder_ja, None, settings.embedder_xling)
    trail = [embedders.title_vector] if embedders.title_vector else []
    names = {lang: [e.name for e in embedders.for_chunk(lang)] + trail for lang in ("en", "ja")}
    return embedders.vector_sizes(), names


def _backend(engine: str, folder: Path, layout: str) -> IndexBackend:
    if engine == "edge":
        from askdocs.retrieval.index.edge import EdgeBackend

        return EdgeBackend(folder / "edge", LAYOUTS[layout])
    from qdrant_client import QdrantClient

    from askdocs.retrieval.index.server import ServerBackend

    return ServerBackend(QdrantClient(path=str(folder / "local")), "sizing")


def _unit(rng: np.random.Generator, dim: int) -> list[float]:
    vector = rng.standard_normal(dim).astype(np.float32)
    return (vector / np.linalg.norm(vector)).tolist()  # type: ignore[no-any-return]


def _points(rng: np.random.Generator, start: int, n: int) -> list[IndexPoint]:
    sizes, names = _vectors()
    out = []
    for i in range(n):
        no = start + i
        doc = no // 8
        language = "ja" if rng.random() < JA_SHARE else "en"
        ids = np.unique(rng.zipf(1.3, TERMS * 2) % VOCAB)[:TERMS]
        if language == "ja":
            text = "".join(JA_WORDS[rng.integers(0, len(JA_WORDS), 160)])
        else:
            text = " ".join(WORDS[rng.integers(0, len(WORDS), 180)])
        chunk = ChunkPayload(
            source=("files", "slack", "confluence", "google-docs")[doc % 4], url=f"https://example.com/doc/{doc}",
            updated_at=None, acl=[f"group:g{doc % 6}"], content_hash=f"{doc:064x}",
            metadata={"path": f"f{doc % 50}/d{doc}.md"}, container=f"folder:f{doc % 50}", doc_id=f"files:d{doc}",
            chunk_no=no % 8, title=f"Document {doc}", heading=f"Part {no % 8}", text=text, language=language,
            embedding_hash=f"{no:064x}:0123456789ab",
        )  # fmt: skip
        payload = {**chunk.to_payload(), "kind": "chunk", "dl": 180, BM25_AVGDL: 180.0}  # as Index.write_documents
        dense = {name: _unit(rng, sizes[name]) for name in names[language]}
        point_id = f"{no // (1 << 48):08x}-0000-4000-8000-{no % (1 << 48):012x}"
        out.append(IndexPoint(point_id, payload, dense, (ids.tolist(), [1.0] * len(ids))))
    return out


def write(engine: str, layout: str, folder: Path, size: int) -> dict[str, Any]:
    """Write ``size`` chunks and build the HNSW graphs; seconds taken."""
    backend = _backend(engine, folder, layout)
    backend.ensure(CollectionSpec(dense=_vectors()[0]))
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


def read(engine: str, layout: str, folder: Path, queries: int = 50) -> dict[str, Any]:
    """Open the collection and run filtered hybrid queries (an English question: the English model's leg and BM25
    over English chunks, the multilingual legs over Japanese ones); RSS growth over the process before it opened."""
    import psutil

    sizes, names = _vectors()  # before the baseline: its imports are no part of the index
    process = psutil.Process()
    before = process.memory_info().rss
    backend = _backend(engine, folder, layout)
    english, multilingual = names["en"][0], names["ja"]
    rng = np.random.default_rng(7)
    for i in range(queries):
        sparse = np.unique(rng.zipf(1.3, 8) % VOCAB).tolist()
        flt = IndexFilter(acl_any=(f"group:g{i % 6}", "public"), languages=("en",))
        other = OtherLanguageBlock(
            dense=tuple((name, _unit(rng, sizes[name])) for name in multilingual), languages=("ja",)
        )
        backend.query(
            HybridQuery(limit=10, dense=(english, _unit(rng, sizes[english])), sparse=(sparse, [1.0] * len(sparse)),
                        filter=flt, other=other)
        )  # fmt: skip
    rss = process.memory_info().rss - before
    backend.close()
    return {"rss_bytes": rss}


def _fresh(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def measure(engine: str, layout: str, size: int, workdir: Path) -> dict[str, Any]:
    """One engine and layout at one size, each step in a fresh process."""
    folder = workdir / f"{engine}-{layout}-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    out = {"engine": engine, "layout": layout, "size": size, **_fresh(write, engine, layout, folder, size)}
    out.update(_fresh(read, engine, layout, folder))
    out["disk_bytes"] = folder_bytes(folder)
    out["total_s"] = round(time.perf_counter() - started, 1)
    shutil.rmtree(folder, ignore_errors=True)
    return out


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown sizing table: measured MB at each size, and the slope projected to 1M and 10M chunks."""
    lines = [
        "| engine | layout | chunks | RSS MB | disk MB | per 1M chunks: RAM / disk GB | 10M chunks: RAM / disk GB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for engine, layout in dict.fromkeys((r["engine"], r["layout"]) for r in results):
        rows = sorted((r for r in results if (r["engine"], r["layout"]) == (engine, layout)), key=lambda r: r["size"])
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
                f"| {engine} | {layout} | {r['size']:,} | {r['rss_bytes'] / 1e6:,.0f} | {r['disk_bytes'] / 1e6:,.0f} "
                f"| {projected} | {ten} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print one JSON line per measurement, then the Markdown table."""
    p = argparse.ArgumentParser(prog="python -m askdocs.eval.bench.sizing", description=__doc__)
    p.add_argument("--sizes", default="100000,200000", help="chunks, comma-separated (two or more for a slope)")
    p.add_argument("--engines", default="edge,local", help="edge and/or local (qdrant-client's local mode)")
    p.add_argument("--layouts", default="default", help=f"Edge layouts, comma-separated: {', '.join(LAYOUTS)}")
    p.add_argument("--workdir", type=Path, default=None, help="where the collections are written (then removed)")
    args = p.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    if unknown := [name for name in layouts if name not in LAYOUTS]:
        p.error(f"unknown layout {', '.join(unknown)}; choose from {', '.join(LAYOUTS)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="askdocs-sizing-", dir=args.workdir) as tmp:
        for engine in (e.strip() for e in args.engines.split(",")):
            # Each size of every layout before the next size: the smaller sizes of all layouts finish first.
            for size in sizes:
                for layout in layouts if engine == "edge" else ["default"]:
                    result = measure(engine, layout, size, Path(tmp))
                    print(json.dumps(result), flush=True)
                    results.append(result)
    print(table(results))


if __name__ == "__main__":
    main()
