"""``python -m askdocs.eval.bench``: synthetic indexes per size; ingest, HTTP latency, memory, disk, recall.

Example::

    nice .venv/bin/python -m askdocs.eval.bench --sizes 10000,100000 --queries 200 --clients 1,8
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import platform
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from askdocs.eval.bench import report
from askdocs.eval.bench.build import build
from askdocs.eval.bench.corpus import make_queries
from askdocs.eval.bench.ingest import measure_ingest
from askdocs.eval.bench.latency import measure
from askdocs.eval.bench.peer import measure_peer
from askdocs.eval.bench.recall import hnsw_recall
from askdocs.eval.bench.vectors import VectorPool
from askdocs.retrieval.analyzer import detect_language
from askdocs.retrieval.embedders import LanguageEmbedders, make_embedder
from askdocs.settings import Settings

log = logging.getLogger("askdocs.eval.bench")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m askdocs.eval.bench", description=__doc__)
    p.add_argument("--sizes", type=_ints, default=[10000, 100000, 200000], help="chunks per index, comma-separated")
    p.add_argument("--queries", type=int, default=200, help="queries per client setting")
    p.add_argument("--clients", type=_ints, default=[1, 8], help="concurrent clients, comma-separated")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/askdocs-bench"), help="indexes and caches (reused)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of the run folder")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--ja-share", type=float, default=0.2, help="share of Japanese documents")
    p.add_argument("--ingest-chunks", type=int, default=1000, help="real-model ingest sample (half per language)")
    p.add_argument("--recall-chunks", type=int, default=5000, help="real embeddings for the HNSW recall check")
    p.add_argument("--recall-queries", type=int, default=100)
    p.add_argument("--recall-embedder", default="use-multilingual", help="model for the recall check's embeddings")
    p.add_argument("--dense-recall-queries", type=int, default=50, help="per-size HNSW recall queries (synthetic)")
    p.add_argument("--peer-queries", type=int, default=20, help="LangChain baseline queries (0: skip)")
    p.add_argument("--peer-max-size", type=int, default=100000, help="skip the LangChain baseline above this size")
    p.add_argument("--in-process", action="store_true", help="no child processes (faster; RSS then accumulates)")
    p.add_argument("--no-reuse", action="store_true", help="rebuild indexes even when a matching marker exists")
    return p.parse_args(argv)


def _in_child(in_process: bool, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh spawned process (clean RSS, no shared state) and return its result."""
    if in_process:
        return fn(*args)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _pool(args: argparse.Namespace, embedders: LanguageEmbedders, results: dict[str, Any]) -> tuple[VectorPool, Path]:
    """Measure ingest (when asked) and return the real-vector pool (the first one made is kept for reuse)."""
    path = args.workdir / f"pool-s{args.seed}.npz"
    rows = None
    if args.ingest_chunks > 0:
        results["ingest"], rows = measure_ingest(embedders, args.workdir, args.seed, args.ingest_chunks)
    if path.exists() and not args.no_reuse:
        return VectorPool.load(path), path
    if rows is None:
        _, rows = measure_ingest(embedders, args.workdir, args.seed, 200)
    pool = VectorPool(rows)
    pool.save(path)
    return pool, path


def run(args: argparse.Namespace, command: str = "") -> dict[str, Any]:
    """The whole benchmark; writes the run folder after every stage and returns the results."""
    started = datetime.now(UTC)
    run_dir = args.runs_dir / f"bench-{started.strftime('%Y%m%d-%H%M%S')}"
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "command": command or "python -m askdocs.eval.bench",
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, Python {platform.python_version()}",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "run_dir": str(run_dir),
        "sizes": {},
    }
    settings = Settings()
    embedders = LanguageEmbedders.from_names(
        settings.embedder_en, settings.embedder_ja, multilingual=settings.embedder_xling
    )
    names = {lang: embedders.for_language(lang).name for lang in ("en", "ja")}
    dense = embedders.vector_sizes()
    multilingual = embedders.multilingual.name if embedders.multilingual else ""
    extra = {
        lang: [(e.name, e.name) for e in embedders.for_chunk(lang)[1:]]
        + ([(embedders.title_vector, multilingual)] if embedders.title_vector else [])
        for lang in ("en", "ja")
    }
    pool, pool_path = _pool(args, embedders, results)
    report.write(run_dir, results)
    if args.recall_chunks > 0:
        recall_embedder = next(
            (e for e in embedders.by_language.values() if e.name == args.recall_embedder), None
        ) or make_embedder(args.recall_embedder)
        results["recall"] = hnsw_recall(
            recall_embedder, args.workdir, args.seed, args.recall_chunks, args.recall_queries, args.ja_share
        )
        log.info("recall: %s", results["recall"])
        report.write(run_dir, results)
    for size in args.sizes:
        res: dict[str, Any] = {}
        results["sizes"][str(size)] = res
        res["build"] = build(size, args.workdir, args.seed, args.ja_share, pool, names, dense, not args.no_reuse, extra)
        queries = make_queries(args.seed, int(res["build"]["documents"]), args.queries, args.ja_share)
        res["latency"] = {}
        for variant in ("plain", "hnsw"):
            recall_q = args.dense_recall_queries if variant == "hnsw" else 0
            folder = str(args.workdir / f"size-{size}" / variant)
            res["latency"][variant] = _in_child(args.in_process, measure, folder, queries, args.clients, recall_q)
            log.info("size %d %s: %s", size, variant, res["latency"][variant])
            report.write(run_dir, results)
        english = [q for q in queries if detect_language(q) == "en"]
        if args.peer_queries <= 0 or size > args.peer_max_size:
            res["langchain"] = {"skipped": f"not run at {size} (limit {args.peer_max_size})"}
        else:
            t0 = time.perf_counter()
            res["langchain"] = _in_child(
                args.in_process,
                measure_peer,
                size,
                args.seed,
                args.ja_share,
                str(pool_path),
                names["en"],
                english[: args.peer_queries],
            )
            res["langchain"]["total_s"] = round(time.perf_counter() - t0, 1)
            ours = next((r for r in res["latency"]["hnsw"]["runs"] if r["clients"] == 1), None)
            if ours and ours["p50_ms"] > 0:
                res["speedup_vs_langchain_p50"] = round(res["langchain"]["p50_ms"] / ours["p50_ms"], 1)
            log.info("size %d langchain: %s", size, res["langchain"])
        report.write(run_dir, results)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    report.write(run_dir, results)
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point: run, then print the Markdown report."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    results = run(args, "python -m askdocs.eval.bench " + shlex.join(argv))
    print(report.markdown(results))
    print(f"\nwritten to {results['run_dir']}/results.json and report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
