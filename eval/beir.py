"""BEIR-format datasets: loading, seeded subsets, a load connector, document-level runs and TREC metrics."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytrec_eval

from askdocs.connectors.base import ConnectorFailure
from askdocs.models import PUBLIC, Document, Section
from askdocs.retrieval.hybrid import FusionConfig, HybridRetriever, Mode

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

# pytrec_eval measure -> the name we report.
MEASURES = {"ndcg_cut_10": "ndcg@10", "recall_100": "recall@100", "recip_rank": "mrr@10"}
SPLITS = ("test", "dev", "validation", "train")


@dataclass
class BeirDataset:
    """Corpus (id -> (title, text)), queries (id -> text) and graded qrels (qid -> doc id -> grade)."""

    name: str
    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: Qrels
    split: str = "test"
    notes: list[str] = field(default_factory=list)


def _read_jsonl(path: Path) -> Iterator[dict]:  # type: ignore[type-arg]
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options every BEIR run shares: split, seeded samples, candidates per query, exact search."""
    parser.add_argument("--split", help="qrels split (default: test, else dev, validation, train)")
    parser.add_argument("--limit-docs", type=int, help="judged documents of the kept queries + random others")
    parser.add_argument("--limit-queries", type=int, help="random sample of queries")
    parser.add_argument("--seed", type=int, default=13, help="seed of every sample")
    parser.add_argument("--chunk-limit", type=int, default=200, help="chunks fetched per query before collapsing")
    parser.add_argument("--no-optimize", action="store_true", help="skip building HNSW after ingest (exact search)")


def load_qrels(path: Path) -> Qrels:
    """Read a BEIR qrels TSV (header ``query-id corpus-id score``)."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    return qrels


def load_beir(path: str | Path, split: str | None = None) -> BeirDataset:
    """Load a BEIR folder; only queries with at least one qrel are kept."""
    root = Path(path)
    if split is None:
        split = next((s for s in SPLITS if (root / "qrels" / f"{s}.tsv").exists()), None)
        if split is None:
            raise FileNotFoundError(f"no qrels/{{{','.join(SPLITS)}}}.tsv under {root}")
    qrels = load_qrels(root / "qrels" / f"{split}.tsv")
    corpus = {
        str(d["_id"]): (str(d.get("title") or ""), str(d.get("text") or "")) for d in _read_jsonl(root / "corpus.jsonl")
    }
    queries = {str(q["_id"]): str(q["text"]) for q in _read_jsonl(root / "queries.jsonl") if str(q["_id"]) in qrels}
    qrels = {qid: rels for qid, rels in qrels.items() if qid in queries}
    notes = []
    missing = sum(1 for rels in qrels.values() for d in rels if d not in corpus)
    if missing:
        notes.append(f"{missing} qrels point at documents missing from the corpus")
    return BeirDataset(name=root.name, corpus=corpus, queries=queries, qrels=qrels, split=split, notes=notes)


def subset(
    dataset: BeirDataset, limit_queries: int | None = None, limit_docs: int | None = None, seed: int = 13
) -> BeirDataset:
    """A seeded sample: ``limit_queries`` queries; every document judged for them plus random others."""
    rng = random.Random(seed)
    qids = sorted(dataset.queries)
    if limit_queries is not None and limit_queries < len(qids):
        qids = sorted(rng.sample(qids, limit_queries))
    corpus = dataset.corpus
    notes = list(dataset.notes)
    if limit_docs is not None and limit_docs < len(corpus):
        judged = {d for q in qids for d in dataset.qrels[q] if d in corpus}
        others = sorted(set(corpus) - judged)
        extra = rng.sample(others, max(0, min(len(others), limit_docs - len(judged))))
        if len(judged) > limit_docs:
            notes.append(f"kept all {len(judged)} judged documents, more than --limit-docs {limit_docs}")
        keep = judged | set(extra)
        corpus = {d: corpus[d] for d in sorted(keep)}
    return BeirDataset(
        name=dataset.name,
        corpus=corpus,
        queries={q: dataset.queries[q] for q in qids},
        qrels={q: dataset.qrels[q] for q in qids},
        split=dataset.split,
        notes=notes,
    )


class BeirConnector:
    """A ``LoadConnector`` over a BEIR corpus: one public document per corpus entry, id = the corpus ``_id``."""

    source = "beir"

    def __init__(self, dataset: BeirDataset) -> None:
        self.dataset = dataset

    def load_all(self) -> Iterator[Document | ConnectorFailure]:
        """Every corpus entry as a ``Document`` with a single untitled section."""
        for doc_id, (title, text) in self.dataset.corpus.items():
            yield Document(
                id=doc_id,
                source=self.source,
                title=title,
                sections=[Section(path=[], text=text)],
                acl=[PUBLIC],
            )


def collapse_to_documents(chunks: list[tuple[str, float]], depth: int = 100) -> dict[str, float]:
    """Ranked (doc id, score) chunk hits -> the first ``depth`` documents, each scored by its best chunk."""
    docs: dict[str, float] = {}
    for doc_id, score in chunks:
        if doc_id not in docs:
            docs[doc_id] = score
            if len(docs) >= depth:
                break
    return docs


@dataclass
class RunResult:
    """A document-level run and the wall time of each query in milliseconds."""

    run: Run
    latencies_ms: list[float]

    @property
    def p50_ms(self) -> float:
        """Median query latency."""
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0


def search_run(
    retriever: HybridRetriever,
    queries: dict[str, str],
    mode: Mode = "hybrid",
    fusion: FusionConfig | None = None,
    chunk_limit: int = 200,
    depth: int = 100,
    extra_ms: dict[str, float] | None = None,
    collapse: Callable[[list[tuple[str, float]], int], dict[str, float]] | None = None,
) -> RunResult:
    """Search every query (as the public principal), reading chunks until they span ``depth`` documents, and
    collapse chunk hits to documents in rank order.

    ``extra_ms`` (query text -> ms) is added to each measured latency, e.g. a query embedding served from cache.
    ``collapse`` (default ``collapse_to_documents``: best chunk per document) turns chunk hits into documents.
    """
    collapse = collapse or collapse_to_documents
    run: Run = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        start = time.perf_counter()
        hits = retriever.search_chunks(text, [PUBLIC], limit=chunk_limit, mode=mode, fusion=fusion, documents=depth)
        elapsed = (time.perf_counter() - start) * 1000
        latencies.append(elapsed + (extra_ms or {}).get(text, 0.0))
        # The engine orders fused ties arbitrarily (differently run to run); break them by point id.
        hits = sorted(hits, key=lambda h: (-h.score, h.id))
        run[qid] = collapse([(str(h.payload["doc_id"]), h.score) for h in hits], depth)
    return RunResult(run, latencies)


def _rank_scores(docs: dict[str, float], cutoff: int | None = None) -> dict[str, float]:
    """Scores that keep the given order (ties included; trec_eval would re-break ties by doc id)."""
    ordered = sorted(docs.items(), key=lambda kv: -kv[1])  # stable: ties stay in engine order
    if cutoff is not None:
        ordered = ordered[:cutoff]
    return {doc: float(len(ordered) - i) for i, (doc, _) in enumerate(ordered)}


def evaluate(qrels: Qrels, run: Run) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """nDCG@10, Recall@100 and MRR@10 (means over every judged query; no results count as 0) and per query."""
    per_query: dict[str, dict[str, float]] = {q: dict.fromkeys(MEASURES.values(), 0.0) for q in qrels}
    full = {q: _rank_scores(docs) for q, docs in run.items() if q in qrels and docs}
    top10 = {q: _rank_scores(docs, 10) for q, docs in full.items()}
    main = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
    for qid, values in main.evaluate(full).items():
        per_query[qid]["ndcg@10"] = values["ndcg_cut_10"]
        per_query[qid]["recall@100"] = values["recall_100"]
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})
    for qid, values in mrr.evaluate(top10).items():
        per_query[qid]["mrr@10"] = values["recip_rank"]
    n = max(1, len(per_query))
    means = {m: sum(v[m] for v in per_query.values()) / n for m in MEASURES.values()}
    return means, per_query
