"""Answer evaluation of ``/v1/ask``'s logic (``AskPipeline``: retrieve, answer, check) on a BEIR dataset.

Measures, per generator (extractive; the LLM too when ``ASKDOCS_LLM_MODEL`` is set): found rate, answer
containment (a gold answer string appears in the answer; datasets with ``metadata.answers``), citation precision
(the cited chunk holds the snippet's content terms, or a gold answer), groundedness (mean of
``Answer.groundedness``) and the refusal rate on questions whose relevant documents were deleted — from a copy of
the index, never the shared one.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import shutil
import statistics
import tempfile
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

from askdocs.eval.beir import BeirDataset
from askdocs.models import PUBLIC, Answer
from askdocs.retrieval.analyzer import Analyzer, detect_language
from askdocs.retrieval.answer import AnswerGenerator, ExtractiveAnswerer
from askdocs.retrieval.hybrid import HybridRetriever
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.pipeline import AskPipeline
from askdocs.settings import Settings

log = logging.getLogger("askdocs.eval.answers")
_MARKER = re.compile(r"\[\d+(?:\s*[,，]\s*\d+)*\]")


def load_gold_answers(root: Path) -> dict[str, list[str]]:
    """Query id -> gold answer strings from ``queries.jsonl``'s ``metadata.answers`` (empty when absent)."""
    gold: dict[str, list[str]] = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                answers = (row.get("metadata") or {}).get("answers") or []
                if answers:
                    gold[str(row["_id"])] = [str(a) for a in answers if str(a).strip()]
    return gold


def normalise(text: str) -> str:
    """NFKC, case-folded, citation markers and all whitespace removed (for containment checks)."""
    return "".join(_MARKER.sub("", unicodedata.normalize("NFKC", text)).casefold().split())


def contains_gold(text: str, gold: list[str]) -> bool:
    """Whether any gold answer appears in ``text``."""
    flat = normalise(text)
    return any(normalise(g) and normalise(g) in flat for g in gold)


def citation_checks(
    analyzer: Analyzer, answer: Answer, gold: list[str], relevant: set[str], min_share: float
) -> list[tuple[bool, bool, bool]]:
    """Per citation: (chunk supports the snippet or holds a gold answer, holds a gold answer, doc is relevant)."""
    texts = {p.chunk_id: p.text for hit in answer.hits for p in hit.passages}
    by_doc = {hit.doc_id: hit.text for hit in answer.hits}
    out = []
    for c in answer.citations:
        chunk = texts.get(c.chunk_id) or by_doc.get(c.doc_id, "")
        lang = detect_language(chunk or c.snippet)
        terms = analyzer.match_terms(c.snippet, lang)
        chunk_terms = analyzer.match_terms(chunk, lang)
        share = len(terms & chunk_terms) / len(terms) if terms else 0.0
        has_gold = bool(gold) and contains_gold(chunk, gold)
        out.append((share >= min_share or has_gold, has_gold, c.doc_id in relevant))
    return out


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def answer_questions(
    pipeline: AskPipeline,
    min_share: float,
    questions: dict[str, str],
    gold: dict[str, list[str]],
    qrels: dict[str, dict[str, int]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ask every question as the public principal; aggregate figures and per-question rows."""
    found, contained, contained_all, grounded, latencies = [], [], [], [], []
    support, gold_cite, relevant_cite = [], [], []
    rows = []
    for qid, text in questions.items():
        start = time.perf_counter()
        answer = pipeline.ask(text, [PUBLIC])
        latencies.append((time.perf_counter() - start) * 1000)
        golds = gold.get(qid, [])
        found.append(float(answer.found))
        hit = answer.found and bool(golds) and contains_gold(answer.text, golds)
        if golds:
            contained_all.append(float(hit))
            if answer.found:
                contained.append(float(hit))
        if answer.found and answer.groundedness is not None:
            grounded.append(answer.groundedness)
        relevant = {d for d, g in qrels.get(qid, {}).items() if g > 0}
        checks = citation_checks(pipeline.retriever.analyzer, answer, golds, relevant, min_share)
        support += [float(s) for s, _, _ in checks]
        relevant_cite += [float(r) for _, _, r in checks]
        if golds:
            gold_cite += [float(g) for _, g, _ in checks]
        rows.append({"qid": qid, "question": text, "found": answer.found, "text": answer.text,
                     "gold": golds, "contains_gold": hit, "groundedness": answer.groundedness,
                     "citations": [c.doc_id for c in answer.citations]})  # fmt: skip
    figures = {
        "questions": len(questions),
        "found_rate": _mean(found),
        "answer_containment": _mean(contained),
        "answer_containment_all": _mean(contained_all),
        "citation_precision": _mean(support),
        "citation_gold_precision": _mean(gold_cite),
        "citation_relevant_precision": _mean(relevant_cite),
        "citations": len(support),
        "groundedness": _mean(grounded),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
    }
    return figures, rows


def copy_index(index: Index, workdir: Path) -> tuple[Path, Index]:
    """A private copy of the Edge index in ``workdir`` (flushed first), opened; the caller removes the folder."""
    backend = index.serving_backend
    if not isinstance(backend, EdgeBackend):
        raise TypeError("the refusal check copies a Qdrant Edge index")
    index.flush()
    tmp = Path(tempfile.mkdtemp(prefix="askdocs-refusal-"))
    shutil.copytree(backend.path, tmp / "edge")
    spec = backend.path.parent / f"{backend.path.name}.askdocs-collection.json"
    shutil.copy2(spec, tmp / f"edge.{spec.name.split('.', 1)[1]}")
    return tmp, Index(EdgeBackend(tmp / "edge"))


def refusal_check(
    pipeline: AskPipeline, questions: dict[str, str], qrels: dict[str, dict[str, int]], workdir: Path
) -> dict[str, Any]:
    """Delete every relevant document of ``questions`` from a copy of the index; share of answers that refuse."""
    removed = sorted({d for q in questions for d, g in qrels.get(q, {}).items() if g > 0})
    served = pipeline.retriever
    tmp, copy = copy_index(served.index, workdir)
    try:
        deleted = copy.delete_documents(removed)
        retriever = HybridRetriever(copy, served.embedders, served.analyzer, served.fusion, served.fusion_by_language)
        stripped = replace(pipeline, retriever=retriever)
        refused = []
        for text in questions.values():
            answer = stripped.ask(text, [PUBLIC])
            refused.append(float(not answer.found))
        copy.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"refusal_rate": _mean(refused), "refusal_questions": len(questions), "removed_documents": len(removed),
            "removed_chunks": deleted}  # fmt: skip


def generators(pipeline: AskPipeline, settings: Settings) -> dict[str, AnswerGenerator]:
    """The extractive generator, plus the configured (LLM) answerer when ``llm_model`` is set."""
    analyzer = pipeline.retriever.analyzer
    out: dict[str, AnswerGenerator] = {
        "extractive": ExtractiveAnswerer(analyzer, settings.answer_max_sentences, settings.answer_min_support)
    }
    if settings.llm_enabled:
        out["llm"] = pipeline.answerer
    return out


def evaluate_answers(
    pipeline: AskPipeline,
    settings: Settings,
    dataset: BeirDataset,
    root: Path,
    workdir: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Answer a seeded sample per generator (each through ``pipeline`` with its answerer swapped in) and run the
    refusal check; returns the figures."""
    gold = load_gold_answers(root)
    rng = random.Random(args.seed)
    qids = sorted(dataset.queries)
    sample = sorted(rng.sample(qids, min(args.answer_sample, len(qids))))
    questions = {q: dataset.queries[q] for q in sample}
    refusal_qs = {q: questions[q] for q in sample[: min(args.refusal_sample, len(sample))]}
    result: dict[str, Any] = {"sample": len(sample), "seed": args.seed, "generators": {}, "examples": {}}
    for name, generator in generators(pipeline, settings).items():
        asking = replace(pipeline, answerer=generator)
        figures, rows = answer_questions(asking, settings.llm_support_min, questions, gold, dataset.qrels)
        control = [r["found"] for r in rows if r["qid"] in refusal_qs]
        figures["refusal_control_found_rate"] = _mean([float(f) for f in control])
        figures.update(refusal_check(asking, refusal_qs, dataset.qrels, workdir))
        result["generators"][name] = figures
        result["examples"][name] = rows[:5]
        log.info("answers %s: %s", name, json.dumps(figures, ensure_ascii=False))
    result["notes"] = [
        "answer containment: of found answers / of all sampled questions with gold answers (NFKC, case and "
        "whitespace folded); '—' when the dataset has no gold answers",
        f"citation precision (support): the cited chunk holds >= {settings.llm_support_min:.0%} of the "
        "snippet's content terms, or a gold answer (extractive snippets quote their chunk, so this is ~1 by design; "
        "the gold and relevance columns are the informative ones)",
        f"refusal: the {len(refusal_qs)} first sampled questions' judged-relevant documents deleted from a copy of the "
        "index; other documents may still hold the answer (e.g. sibling paragraphs of the same article)",
    ]
    return result
