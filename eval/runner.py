"""``askdocs eval``: index a BEIR dataset through the real pipeline, run every query through the real retriever
and compare BM25, dense, the askdocs default hybrid, RRF/DBSF variants and LangChain's ensemble on one index.

Example::

    askdocs eval --dataset ../shared/datasets/scifact-dev
    askdocs eval --dataset ../shared/datasets/jsquad-ja-dev --answers

Writes ``results.json``, ``report.md`` and PNG plots to ``--out`` (default ``runs/<timestamp>-<dataset>/``).
The index lives in ``--workdir`` (default ``/tmp/askdocs-eval/<dataset>-<model>``) and is reused when complete.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.app import Services
from askdocs.eval.beir import BeirDataset, RunResult, add_run_options, evaluate, load_beir, search_run, subset
from askdocs.eval.choose_embedder import CachedQueryEmbedder, build_index
from askdocs.eval.report import add_ratios, write_report
from askdocs.retrieval.analyzer import detect_language
from askdocs.retrieval.embedders import Embedder, LanguageEmbedders
from askdocs.retrieval.hybrid import FusionConfig, HybridRetriever, Mode
from askdocs.retrieval.index import Index
from askdocs.settings import Settings

log = logging.getLogger("askdocs.eval.runner")
DEFAULT = "askdocs default"
LANGCHAIN = "langchain ensemble 0.5/0.5"
Collapse = Callable[[list[tuple[str, float]], int], dict[str, float]]


@dataclass
class EvalContext:
    """What every configuration shares: the dataset, its index, the models and the wired services."""

    dataset: BeirDataset
    language: str
    model_tag: str
    workdir: Path
    index: Index
    ingest: dict[str, Any]
    embedders: LanguageEmbedders
    cached: list[CachedQueryEmbedder]
    services: Services
    settings: Settings

    @property
    def main_embedder(self) -> Embedder:
        """The dataset language's dense model (the one the LangChain baseline uses)."""
        return self.embedders.for_language(self.language)

    def embed_ms(self) -> dict[str, float]:
        """Query text -> time its (cached) query embeddings took, every model's summed."""
        total: dict[str, float] = {}
        for cached in self.cached:
            for text, ms in cached.embed_ms.items():
                total[text] = total.get(text, 0.0) + ms
        return total


@dataclass
class Config:
    """One evaluated configuration."""

    name: str
    kind: str  # "askdocs", "variant", "idea" or "baseline"
    mode: Mode = "hybrid"
    fusion: FusionConfig | None = None
    retriever: HybridRetriever | None = None
    collapse: Collapse | None = None
    note: str = ""


def dataset_language(dataset: BeirDataset) -> tuple[str, set[str]]:
    """The majority language of the corpus and every language seen."""
    seen = Counter(detect_language(f"{title}\n{text}") for title, text in dataset.corpus.values())
    return (seen.most_common(1)[0][0] if seen else "en"), set(seen)


def cached_embedders(settings: Settings) -> tuple[LanguageEmbedders, list[CachedQueryEmbedder]]:
    """The configured per-language models, each wrapped so a query is embedded once across configurations."""
    built = LanguageEmbedders.from_names(
        settings.embedder_en, settings.embedder_ja, multilingual=settings.embedder_xling
    )
    wrapped: dict[int, CachedQueryEmbedder] = {}
    for embedder in [*built.by_language.values(), *([built.multilingual] if built.multilingual else [])]:
        wrapped.setdefault(id(embedder), CachedQueryEmbedder(embedder))
    by_language = {lang: wrapped[id(e)] for lang, e in built.by_language.items()}
    multilingual = wrapped[id(built.multilingual)] if built.multilingual else None
    return LanguageEmbedders(by_language, multilingual), list(wrapped.values())  # type: ignore[arg-type]


def query_embedders(
    index: Index, embedders: LanguageEmbedders, dataset: BeirDataset, language: str
) -> LanguageEmbedders:
    """``embedders``, except languages whose model has no vectors in a reused one-model index use the main model.

    An index from ``eval.choose_embedder`` holds one model's vectors for every chunk; the service's index always
    has every configured model's named vector, so this only applies to such reused indexes (and is noted).
    """
    have = set(index.backend.dense_names())
    main = embedders.for_language(language)
    missing = sorted(lang for lang, e in embedders.by_language.items() if e.name not in have)
    if not missing and (embedders.multilingual is None or embedders.multilingual.name in have):
        return embedders
    affected = Counter(lang for q in dataset.queries.values() if (lang := detect_language(q)) in missing)
    if affected:
        counts = ", ".join(f"{n} detected as {lang}" for lang, n in sorted(affected.items()))
        dataset.notes.append(
            f"reused one-model index ({main.name} for every chunk): {counts} of {len(dataset.queries)} queries "
            f"are embedded with {main.name} too (their configured model has no vectors in this index)"
        )
    by_language = {lang: main if lang in missing else e for lang, e in embedders.by_language.items()}
    multilingual = embedders.multilingual if embedders.multilingual and embedders.multilingual.name in have else None
    return LanguageEmbedders(by_language, multilingual)


def prepare(args: argparse.Namespace, settings: Settings) -> EvalContext:
    """Load (and subset) the dataset, build or reuse its index, wire the services, embed every query once."""
    dataset = subset(load_beir(args.dataset, args.split), args.limit_queries, args.limit_docs, args.seed)
    language, languages = dataset_language(dataset)
    embedders, cached = cached_embedders(settings)
    names = sorted({e.name for lang in languages for e in embedders.for_chunk(lang)})
    names += [embedders.title_vector] if embedders.title_vector else []
    model_tag = names[0] if len(names) == 1 else "+".join(names)
    tag = f"{dataset.name}-{model_tag}"
    if args.limit_docs is not None:
        tag += f"-d{args.limit_docs}-q{args.limit_queries or 'all'}-s{args.seed}"
    workdir = Path(args.workdir or f"/tmp/askdocs-eval/{tag}")
    workdir.mkdir(parents=True, exist_ok=True)
    log.info("%s (%s): %d documents, %d queries -> %s", dataset.name, language, len(dataset.corpus),
             len(dataset.queries), workdir)  # fmt: skip
    index, ingest = build_index(
        dataset,
        embedders.for_language(language),
        workdir,
        settings.chunk_tokens,
        settings.chunk_overlap_tokens,
        not args.no_optimize,
        embedders=embedders,
        model_tag=model_tag,
    )
    embedders = query_embedders(index, embedders, dataset, language)
    embedders.warm_up()
    for text in dataset.queries.values():
        for embedder in embedders.for_chunk(detect_language(text)):
            embedder.embed_query(text)
    services = Services.build(settings, index, embedders)
    return EvalContext(dataset, language, model_tag, workdir, index, ingest, embedders, cached, services, settings)


def sum_top(n: int) -> Collapse:
    """Document score = sum of its ``n`` best chunk scores (MaxP is n=1)."""

    def collapse(chunks: list[tuple[str, float]], depth: int) -> dict[str, float]:
        scores: dict[str, list[float]] = {}
        for doc_id, score in chunks:
            scores.setdefault(doc_id, []).append(score)
        summed = {d: sum(sorted(s, reverse=True)[:n]) for d, s in scores.items()}
        return dict(sorted(summed.items(), key=lambda kv: (-kv[1], kv[0]))[:depth])

    return collapse


def configs(ctx: EvalContext, ideas: bool, variants: bool = True) -> list[Config]:
    """BM25, dense, the default (Services' retriever, per-language fusion), RRF/DBSF variants, ideas."""
    s = ctx.settings
    base = FusionConfig(prefetch_limit=s.prefetch_limit)
    out = [
        Config("bm25", "askdocs", "bm25"),
        Config("dense", "askdocs", "dense"),
        Config(DEFAULT, "askdocs", note="Services' HybridRetriever: fusion chosen by the query's language"),
    ]
    if not variants:
        return out
    for k, dw in ((60, 1.0), (10, 1.0), (60, 0.5), (2, 0.3), (2, 0.2)):
        out.append(Config(f"rrf k={k} w={dw:g}:1", "variant", fusion=replace(base, method="rrf", rrf_k=k,
                                                                               dense_weight=dw)))  # fmt: skip
    out.append(Config("dbsf", "variant", fusion=replace(base, method="dbsf")))
    out.extend(xling_configs(ctx))
    if ideas:
        svc = ctx.services.retriever
        deep = HybridRetriever(
            ctx.index, ctx.embedders, ctx.services.analyzer, replace(svc.fusion, prefetch_limit=300),
            {lang: replace(f, prefetch_limit=300) for lang, f in svc.fusion_by_language.items()},
        )  # fmt: skip
        out.append(Config("idea: default, prefetch 300", "idea", retriever=deep, note="prefetch depth 300 per leg"))
        out.append(Config("idea: default, doc = sum of top-2 chunks", "idea", collapse=sum_top(2),
                          note="document score aggregates its two best chunks instead of the best one"))  # fmt: skip
    return out


def xling_configs(ctx: EvalContext) -> list[Config]:
    """Variants of the other-language block (how its multilingual and BM25 legs fuse, its cosine floor)."""
    svc = ctx.services.retriever
    if svc.xling is None or ctx.embedders.multilingual is None:
        return []
    variants = {
        "rrf k=60 1:1": replace(svc.xling, fusion="rrf", rrf_k=60, dense_weight=1.0),
        "rrf k=60 2:1": replace(svc.xling, fusion="rrf", rrf_k=60, dense_weight=2.0),
        "rrf k=2 1:0.3": replace(svc.xling, fusion="rrf", rrf_k=2, dense_weight=1 / 0.3),
        "dbsf": replace(svc.xling, fusion="dbsf"),
        "text and heading trail as two fused legs": replace(svc.xling, dense_merge="fusion"),
        "max of text and heading trail": replace(svc.xling, dense_merge="max"),
        "BM25 for both query languages": replace(svc.xling, bm25_languages=("en", "ja")),
        "BM25 for Japanese questions": replace(svc.xling, bm25_languages=("ja",)),
        "no cosine floor": replace(svc.xling, min_cosine=None),
        "cosine floor 0.2": replace(svc.xling, min_cosine=0.2),
    }
    return [
        Config(
            f"xling: {name}",
            "variant",
            note="other-language block variant",
            retriever=HybridRetriever(
                ctx.index, ctx.embedders, ctx.services.analyzer, svc.fusion, svc.fusion_by_language, config
            ),
        )  # fmt: skip
        for name, config in variants.items()
    ]


def latency_stats(result: RunResult) -> dict[str, float]:
    """p50 / p95 query latency in ms."""
    lat = np.asarray(result.latencies_ms or [0.0])
    return {"p50_ms": round(float(np.percentile(lat, 50)), 2), "p95_ms": round(float(np.percentile(lat, 95)), 2)}


def _row(ctx: EvalContext, cfg: Config, result: RunResult, per_query: dict[str, Any]) -> dict[str, Any]:
    means, by_query = evaluate(ctx.dataset.qrels, result.run)
    per_query[cfg.name] = {q: round(v["ndcg@10"], 4) for q, v in by_query.items()}
    row = {"config": cfg.name, "kind": cfg.kind, **{k: round(v, 4) for k, v in means.items()},
           **latency_stats(result), "ingest_chunks_per_s": float(ctx.ingest.get("chunks_per_s", 0.0)),
           "note": cfg.note, "fusion": asdict(cfg.fusion) if cfg.fusion else None}  # fmt: skip
    log.info("%-42s nDCG@10 %.4f  p50 %.1f ms", cfg.name, means["ndcg@10"], row["p50_ms"])
    return row


def run_configs(ctx: EvalContext, args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Evaluate every configuration; returns result rows and per-query nDCG@10."""
    rows: list[dict[str, Any]] = []
    per_query: dict[str, Any] = {}
    extra = ctx.embed_ms()
    for cfg in configs(ctx, not args.no_ideas, not args.no_variants):
        retriever = cfg.retriever or ctx.services.retriever
        dense_ms = extra if cfg.mode != "bm25" else None
        result = search_run(retriever, ctx.dataset.queries, cfg.mode, cfg.fusion, args.chunk_limit, 100, dense_ms,
                            cfg.collapse)  # fmt: skip
        rows.append(_row(ctx, cfg, result, per_query))
    if not args.no_ideas:
        from askdocs.eval.ideas import doc_fusion_run

        for method in ("dbsf", "minmax", "rrf60"):
            cfg = Config(f"idea: doc-level {method} 1:1", "idea", note="legs collapsed to documents, then fused "
                         "client-side (two engine calls)")  # fmt: skip
            result = doc_fusion_run(ctx.services.retriever, ctx.dataset.queries, method, 1.0, args.chunk_limit,
                                    extra_ms=extra)  # fmt: skip
            rows.append(_row(ctx, cfg, result, per_query))
    if not args.no_langchain:
        rows.append(langchain_row(ctx, per_query))
    return rows, per_query


def langchain_row(ctx: EvalContext, per_query: dict[str, Any]) -> dict[str, Any]:
    """Build and evaluate the LangChain ensemble over the same chunks and vectors."""
    from askdocs.eval.langchain_baseline import build_baseline, langchain_run, scroll_chunks

    embedder = ctx.main_embedder
    rows = scroll_chunks(ctx.index, embedder.name)
    baseline = build_baseline(rows, embedder)
    log.info("LangChain ensemble: %d chunks in %.1f s (%d re-embedded)", baseline.chunks, baseline.build_s,
             baseline.embedded)  # fmt: skip
    result = langchain_run(baseline, ctx.dataset.queries, extra_ms=ctx.embed_ms())
    means, by_query = evaluate(ctx.dataset.qrels, result.run)
    per_query[LANGCHAIN] = {q: round(v["ndcg@10"], 4) for q, v in by_query.items()}
    log.info("%-42s nDCG@10 %.4f  p50 %.1f ms", LANGCHAIN, means["ndcg@10"], float(np.median(result.latencies_ms)))
    note = (
        f"BM25Retriever (rank_bm25, str.split) + QdrantVectorStore (:memory:) on {embedder.name}, "
        f"k=100 each; {baseline.embedded} chunks re-embedded, the rest reuse the index's vectors"
    )
    return {"config": LANGCHAIN, "kind": "baseline", **{k: round(v, 4) for k, v in means.items()},
            **latency_stats(result), "ingest_chunks_per_s": round(baseline.chunks_per_s, 1),
            "note": note, "fusion": None}  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The ``askdocs eval`` options."""
    parser = argparse.ArgumentParser(prog="askdocs eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--dataset", required=True, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--workdir", help="index folder (default /tmp/askdocs-eval/<dataset>-<model>)")
    parser.add_argument("--out", help="run folder (default runs/<timestamp>-<dataset>/)")
    add_run_options(parser)
    parser.add_argument("--no-langchain", action="store_true", help="skip the LangChain ensemble baseline")
    parser.add_argument("--no-ideas", action="store_true", help="skip the 'idea:' rows (prefetch, aggregation)")
    parser.add_argument("--no-variants", action="store_true", help="only BM25, dense and the default (no RRF/DBSF "
                        "or cross-lingual variants)")  # fmt: skip
    parser.add_argument("--answers", action="store_true", help="also evaluate /v1/ask answers (eval.answers)")
    parser.add_argument("--answers-only", action="store_true", help="only the answer evaluation")
    parser.add_argument("--answer-sample", type=int, default=100, help="questions answered (seeded sample)")
    parser.add_argument("--refusal-sample", type=int, default=50, help="questions whose evidence is removed")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, settings: Settings | None = None) -> dict[str, Any]:
    """Everything ``askdocs eval`` does; returns the results written to ``<out>/results.json``."""
    settings = settings or Settings()
    started = time.strftime("%Y%m%d-%H%M%S")
    ctx = prepare(args, settings)
    out = Path(args.out or f"runs/{started}-{ctx.dataset.name}")
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "dataset": ctx.dataset.name, "split": ctx.dataset.split, "language": ctx.language,
        "models": ctx.model_tag, "embedder_en": settings.embedder_en, "embedder_ja": settings.embedder_ja,
        "documents": len(ctx.dataset.corpus), "queries": len(ctx.dataset.queries), "seed": args.seed,
        "limit_docs": args.limit_docs, "limit_queries": args.limit_queries, "chunk_tokens": settings.chunk_tokens,
        "overlap_tokens": settings.chunk_overlap_tokens, "chunk_limit": args.chunk_limit, "ingest": ctx.ingest,
        "workdir": str(ctx.workdir), "started": started, "notes": ctx.dataset.notes,
        "query_embed_p50_ms": round(float(np.median(list(ctx.embed_ms().values()) or [0.0])), 2),
    }  # fmt: skip
    if not args.answers_only:
        rows, per_query = run_configs(ctx, args)
        results["results"] = add_ratios(rows, "bm25", LANGCHAIN)
        results["per_query_ndcg10"] = per_query
    if args.answers or args.answers_only:
        from askdocs.eval.answers import evaluate_answers

        results["answers"] = evaluate_answers(
            ctx.services.pipeline, ctx.settings, ctx.dataset, Path(args.dataset), ctx.workdir, args
        )
    ctx.services.close()
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    write_report(results, out)
    results["out"] = str(out)
    log.info("wrote %s", out)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """CLI entry point (``askdocs eval`` and ``python -m askdocs.eval.runner``)."""
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    results = run(args)
    print((Path(results["out"]) / "report.md").read_text())
    return results


if __name__ == "__main__":
    main()
