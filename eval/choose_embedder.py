"""Benchmark one dense embedder on a BEIR dataset through the real pipeline: BM25, dense and hybrid fusions.

Example::

    python -m askdocs.eval.choose_embedder --dataset ../shared/datasets/scifact-dev --embedder minilm-l6-int8
    python -m askdocs.eval.choose_embedder --summarize /tmp/askdocs-eval/*/results.json

The index (Qdrant Edge) lives under ``--workdir`` and is reused when complete, so re-runs only evaluate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.eval.beir import BeirConnector, BeirDataset, add_run_options, evaluate, load_beir, search_run, subset
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer
from askdocs.retrieval.analyzer import ANALYZER_VERSION, Analyzer
from askdocs.retrieval.embedders import Embedder, LanguageEmbedders, make_embedder
from askdocs.retrieval.hybrid import FusionConfig, HybridRetriever, Mode
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import get_settings

log = logging.getLogger("askdocs.eval.choose_embedder")
MARKER = "complete.json"
RRF_KS = (2, 10, 60)
RRF_WEIGHTS = ((1.0, 1.0), (0.5, 1.0), (0.3, 1.0))


class CachedQueryEmbedder:
    """Wraps an embedder so each query is embedded once across configs; remembers how long it took."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.cache: dict[str, np.ndarray] = {}
        self.embed_ms: dict[str, float] = {}

    def warm_up(self) -> None:
        """Load the wrapped model."""
        self.inner.warm_up()

    def count_tokens(self, text: str) -> int:
        """Delegated."""
        return self.inner.count_tokens(text)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Delegated (not cached)."""
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """Cached query embedding."""
        if text not in self.cache:
            start = time.perf_counter()
            self.cache[text] = self.inner.embed_query(text)
            self.embed_ms[text] = (time.perf_counter() - start) * 1000
        return self.cache[text]


def configs() -> list[tuple[str, Mode, FusionConfig | None]]:
    """Every configuration evaluated: BM25, dense, RRF grid and DBSF."""
    out: list[tuple[str, Mode, FusionConfig | None]] = [("bm25", "bm25", None), ("dense", "dense", None)]
    for k in RRF_KS:
        for dw, sw in RRF_WEIGHTS:
            out.append((f"rrf k={k} w={dw:g}:{sw:g}", "hybrid", FusionConfig("rrf", k, dw, sw)))
    out.append(("dbsf", "hybrid", FusionConfig("dbsf")))
    return out


def fingerprint(dataset: BeirDataset, embedder: str, chunk_tokens: int, overlap: int) -> str:
    """Identity of what an index holds: documents, embedder, chunking, BM25 analysis."""
    h = hashlib.sha256(f"{embedder}\x00{chunk_tokens}\x00{overlap}\x00{ANALYZER_VERSION}".encode())
    for doc_id in sorted(dataset.corpus):
        h.update(doc_id.encode() + b"\x00")
    return h.hexdigest()[:16]


def build_index(
    dataset: BeirDataset,
    embedder: Embedder,
    workdir: Path,
    chunk_tokens: int,
    overlap: int,
    optimize: bool,
    embedders: LanguageEmbedders | None = None,
    model_tag: str | None = None,
) -> tuple[Index, dict[str, Any]]:
    """Index ``dataset`` under ``workdir`` (or reuse a complete index there); returns the index and ingest stats.

    ``embedders`` (default: ``embedder`` for both languages) embed each chunk with its language's model;
    ``model_tag`` (default: ``embedder.name``) names the models in the fingerprint.
    """
    marker = workdir / MARKER
    fp = fingerprint(dataset, model_tag or embedder.name, chunk_tokens, overlap)
    index = Index(EdgeBackend(workdir / "edge"))
    embedders = embedders or LanguageEmbedders({"en": embedder, "ja": embedder})
    indexer = Indexer(index, embedders, Chunker(embedders.for_language, chunk_tokens, overlap), Analyzer())
    if marker.exists():
        stats = json.loads(marker.read_text())
        if stats.get("fingerprint") == fp:
            log.info("reusing complete index at %s (%s chunks)", workdir, stats.get("chunks"))
            # An index cached before BM25 weights were refreshed after ingest gets them now, as a new build would.
            reweighted = indexer.refresh_bm25()
            if reweighted and optimize:
                index.optimize()
            return index, {**stats, "reused": True, "reweighted_on_reuse": reweighted}
        raise SystemExit(
            f"{workdir} holds an index of other documents, models, chunking or analyzer version (fingerprint "
            f"{stats.get('fingerprint')} != {fp}): delete that folder or pass another --workdir"
        )
    embedders.warm_up()
    total = len(dataset.corpus)
    start = time.perf_counter()
    last = [start]

    def progress(seen: int, chunks: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 30 or seen == total:
            last[0] = now
            rate = chunks / max(now - start, 1e-9)
            log.info("ingest %d/%d documents, %d new chunks, %.1f chunks/s", seen, total, chunks, rate)

    report = indexer.full_sync(BeirConnector(dataset), progress)
    ingest_s = time.perf_counter() - start
    log.info("%s", report.summary())
    if report.status == "failed":
        raise SystemExit("ingest failed")
    opt_s = 0.0
    if optimize:
        t0 = time.perf_counter()
        index.optimize()
        opt_s = time.perf_counter() - t0
    stats = {
        "fingerprint": fp,
        "documents": total,
        "chunks": index.count_chunks(),
        "new_chunks": report.embedded_chunks,
        "ingest_s": round(ingest_s, 1),
        "chunks_per_s": round(report.embedded_chunks / max(ingest_s, 1e-9), 2),
        "optimize_s": round(opt_s, 1),
        "resumed": report.unchanged > 0,
    }
    marker.write_text(json.dumps(stats, indent=2))
    return index, {**stats, "reused": False}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Index, evaluate every configuration, write ``results.json``; returns the results."""
    full = load_beir(args.dataset, args.split)
    dataset = subset(full, args.limit_queries, args.limit_docs, args.seed)
    tag = f"{dataset.name}-{args.embedder}"
    if args.limit_docs is not None:
        tag += f"-d{args.limit_docs}-q{args.limit_queries or 'all'}-s{args.seed}"
    workdir = Path(args.workdir or f"/tmp/askdocs-eval/{tag}")
    workdir.mkdir(parents=True, exist_ok=True)
    log.info(
        "%s: %d documents, %d queries (split %s) -> %s",
        dataset.name,
        len(dataset.corpus),
        len(dataset.queries),
        dataset.split,
        workdir,
    )
    for note in dataset.notes:
        log.warning("%s", note)
    settings = get_settings()
    chunk_tokens = args.chunk_tokens or settings.chunk_tokens
    overlap = args.overlap_tokens if args.overlap_tokens is not None else settings.chunk_overlap_tokens
    embedder = CachedQueryEmbedder(make_embedder(args.embedder))
    index, ingest = build_index(dataset, embedder, workdir, chunk_tokens, overlap, not args.no_optimize)
    embedders = LanguageEmbedders({"en": embedder, "ja": embedder})  # type: ignore[dict-item]
    retriever = HybridRetriever(index, embedders, Analyzer())
    embedder.warm_up()
    for text in dataset.queries.values():  # embed once, timed; every config reuses the vector
        embedder.embed_query(text)
    rows: list[dict[str, Any]] = []
    per_query: dict[str, dict[str, float]] = {}
    for name, mode, fusion in configs():
        result = search_run(
            retriever,
            dataset.queries,
            mode,
            fusion,
            args.chunk_limit,
            100,
            embedder.embed_ms if mode != "bm25" else None,
        )
        means, by_query = evaluate(dataset.qrels, result.run)
        rows.append(
            {
                "config": name,
                **{k: round(v, 4) for k, v in means.items()},
                "p50_ms": round(result.p50_ms, 1),
                "fusion": asdict(fusion) if fusion else None,
            }
        )
        per_query[name] = {q: round(v["ndcg@10"], 4) for q, v in by_query.items()}
        log.info("%-22s nDCG@10 %.4f", name, means["ndcg@10"])
    index.close()
    results = {
        "dataset": dataset.name,
        "split": dataset.split,
        "embedder": args.embedder,
        "documents": len(dataset.corpus),
        "queries": len(dataset.queries),
        "limit_docs": args.limit_docs,
        "limit_queries": args.limit_queries,
        "seed": args.seed,
        "chunk_tokens": chunk_tokens,
        "overlap_tokens": overlap,
        "chunk_limit": args.chunk_limit,
        "ingest": ingest,
        "query_embed_p50_ms": round(float(np.median(list(embedder.embed_ms.values()) or [0.0])), 1),
        "results": rows,
        "per_query_ndcg10": per_query,
        "workdir": str(workdir),
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return results


def table(all_results: list[dict[str, Any]]) -> str:
    """The Markdown table of one or more result files."""
    lines = [
        "| dataset | embedder | docs/queries | config | nDCG@10 | Recall@100 | MRR@10 | query p50 ms "
        "| ingest chunks/s |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in all_results:
        cps = res["ingest"].get("chunks_per_s", 0)
        size = f"{res['documents']}/{res['queries']}"
        for row in res["results"]:
            lines.append(
                f"| {res['dataset']} | {res['embedder']} | {size} | {row['config']} | {row['ndcg@10']:.4f} "
                f"| {row['recall@100']:.4f} | {row['mrr@10']:.4f} | {row['p50_ms']:.1f} | {cps:.1f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    parser.add_argument("--embedder", help="embedder under test, used for both languages")
    parser.add_argument("--workdir", help="index + results folder (default /tmp/askdocs-eval/<dataset>-<embedder>)")
    parser.add_argument("--chunk-tokens", type=int, help="default: ASKDOCS_CHUNK_TOKENS")
    parser.add_argument("--overlap-tokens", type=int, help="default: ASKDOCS_CHUNK_OVERLAP_TOKENS")
    add_run_options(parser)
    parser.add_argument("--summarize", nargs="+", metavar="RESULTS_JSON", help="print the table of saved results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.summarize:
        print(table([json.loads(Path(p).read_text()) for p in args.summarize]))
        return
    if not args.dataset or not args.embedder:
        parser.error("--dataset and --embedder are required (or --summarize)")
    results = benchmark(args)
    print(table([results]))
    print(f"\nresults: {results['workdir']}/results.json; ingest: {json.dumps(results['ingest'])}")


if __name__ == "__main__":
    main()
