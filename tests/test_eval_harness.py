"""The evaluation harness end to end on a tiny BEIR dataset built here (English + Japanese), and its metrics
checked against a hand computation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from openai_server import FakeOpenAI, fake_openai, fake_openai_server  # noqa: F401
from pydantic import SecretStr

from askdocs.eval.beir import evaluate
from askdocs.eval.runner import DEFAULT, LANGCHAIN, parse_args, run
from askdocs.settings import Settings

DOCS = {
    "vpn": ("VPN setup", "Install the WireGuard client and import the profile from the portal to connect to the VPN."),
    "leave": ("Parental leave", "Employees receive sixteen weeks of paid parental leave after the birth of a child."),
    "expense": ("Expense reports", "Submit expense reports with scanned receipts within thirty days of travel."),
    "laptop": ("Laptop refresh", "Engineering laptops are replaced every three years by the IT hardware desk."),
    "parking": ("Office parking", "The garage under the Berlin office offers forty bicycle racks and ten car bays."),
    "coffee": ("Kitchen rules", "The espresso machine is descaled every Friday; clean the milk frother after use."),
    "backup": ("Backups", "Database snapshots run nightly at two o'clock and are retained for ninety days."),
    "oncall": ("On-call rota", "Each on-call engineer carries the pager for one week and hands over on Monday."),
    "badge": ("Visitor badges", "Visitors collect a temporary badge at reception and return it when leaving."),
    "printer": ("Printers", "The colour printer on floor three needs a PIN code released from the print queue."),
    "security": ("Password policy", "Passwords must have fourteen characters and rotate only after a compromise."),
    "holiday": ("Public holidays", "The company observes twelve public holidays, published in the HR calendar."),
    "tokyo-card": (
        "東京オフィス",
        "東京オフィスの入館カードを紛失した場合、再発行手数料は三千円です。総務部に申請してください。",
    ),
    "tokyo-lunch": ("社員食堂", "社員食堂は午前十一時から午後二時まで営業しており、日替わり定食は五百円です。"),
    "osaka": ("大阪支社", "大阪支社は梅田駅から徒歩五分のビルの十二階にあります。"),
    "kyoto": ("京都の研修", "新入社員研修は毎年四月に京都の研修センターで二週間行われます。"),
}
QUERIES = [
    ("q1", "How do I connect to the VPN?", ["vpn"], ["WireGuard"]),
    ("q2", "How many weeks of parental leave do employees get?", ["leave"], ["sixteen weeks"]),
    ("q3", "When must expense reports be submitted?", ["expense"], ["thirty days"]),
    ("q4", "How often are engineering laptops replaced?", ["laptop"], ["three years"]),
    ("q5", "How long are database snapshots retained?", ["backup"], ["ninety days"]),
    ("q6", "How long does an on-call engineer carry the pager?", ["oncall"], ["one week"]),
    ("q7", "入館カードの再発行手数料はいくらですか？", ["tokyo-card"], ["三千円"]),
    ("q8", "社員食堂の日替わり定食はいくらですか？", ["tokyo-lunch"], ["五百円"]),
    ("q9", "新入社員研修はどこで行われますか？", ["kyoto"], ["京都の研修センター"]),
]


def write_beir(root: Path) -> Path:
    """corpus.jsonl, queries.jsonl (with metadata.answers) and qrels/test.tsv."""
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, (title, text) in DOCS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}, ensure_ascii=False) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text, _, answers in QUERIES:
            row = {"_id": qid, "text": text, "metadata": {"answers": answers}}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{qid}\t{d}\t1" for qid, _, docs, _ in QUERIES for d in docs]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


def hand_ndcg10(ranking: list[str], rels: dict[str, int]) -> float:
    """trec_eval's nDCG@10: linear gain, log2(rank + 1) discount, ideal from the judged grades."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:10]))
    ideal = sorted(rels.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def hand_mrr10(ranking: list[str], rels: dict[str, int]) -> float:
    """Reciprocal rank of the first relevant document within the top 10."""
    return next((1.0 / (i + 1) for i, d in enumerate(ranking[:10]) if rels.get(d, 0) > 0), 0.0)


def test_metrics_match_a_hand_computation() -> None:
    qrels = {"a": {"d1": 2, "d2": 1, "d9": 1}, "b": {"d5": 1}, "c": {"d7": 1}}
    rankings = {
        "a": ["d3", "d2", "d4", "d1"] + [f"x{i}" for i in range(10)] + ["d9"],  # d9 below the cut: recall only
        "b": [f"y{i}" for i in range(4)] + ["d5"],
        "c": [f"z{i}" for i in range(12)] + ["d7"],  # relevant at rank 13: MRR@10 0, nDCG@10 0
    }
    run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in rankings.items()}
    means, per_query = evaluate(qrels, run)
    for q, ranking in rankings.items():
        assert per_query[q]["ndcg@10"] == pytest.approx(hand_ndcg10(ranking, qrels[q]), abs=1e-4)
        assert per_query[q]["mrr@10"] == pytest.approx(hand_mrr10(ranking, qrels[q]), abs=1e-4)
    assert per_query["a"]["recall@100"] == pytest.approx(1.0)
    hand_mean = sum(hand_ndcg10(rankings[q], qrels[q]) for q in qrels) / 3
    assert means["ndcg@10"] == pytest.approx(hand_mean, abs=1e-4)
    assert means["mrr@10"] == pytest.approx((0.5 + 0.2 + 0.0) / 3, abs=1e-4)


def test_harness_end_to_end(tmp_path: Path) -> None:
    dataset = write_beir(tmp_path / "tiny")
    out = tmp_path / "run"
    args = parse_args([
        "--dataset", str(dataset), "--workdir", str(tmp_path / "index"), "--out", str(out), "--no-optimize",
        "--answers", "--answer-sample", "9", "--refusal-sample", "9",
    ])  # fmt: skip
    results: dict[str, Any] = run(args, Settings(llm_model=None))

    assert {p.name for p in out.iterdir()} >= {"results.json", "report.md", "latency.png", "quality_ndcg10.png"}
    assert all((out / f"quality_{m}.png").stat().st_size > 1000 for m in ("ndcg10", "recall100", "mrr10"))
    saved = json.loads((out / "results.json").read_text())
    # each chunk got its language's model, and the multilingual model's vectors of its text and heading trail
    assert saved["models"] == "minilm-l6-int8+use-multilingual+use-multilingual-title"
    rows = {r["config"]: r for r in saved["results"]}
    assert {"bm25", "dense", DEFAULT, "dbsf", LANGCHAIN} <= set(rows)
    for row in rows.values():
        assert 0.0 <= row["ndcg@10"] <= 1.0 and row["p95_ms"] >= row["p50_ms"] > 0
    assert rows["bm25"]["vs_bm25"]["quality"] == pytest.approx(1.0)
    assert rows[LANGCHAIN]["vs_langchain"]["quality"] == pytest.approx(1.0)
    # On sixteen distinct topics every real retriever, and the LangChain ensemble, finds the one relevant doc.
    assert rows[DEFAULT]["recall@100"] == pytest.approx(1.0)
    assert rows[DEFAULT]["ndcg@10"] > 0.9 and rows["bm25"]["ndcg@10"] > 0.9
    assert rows[LANGCHAIN]["ndcg@10"] > 0.5
    report = (out / "report.md").read_text()
    assert "| askdocs default |" in report and "langchain ensemble" in report and "refusal rate" in report

    extractive = results["answers"]["generators"]["extractive"]
    assert extractive["questions"] == 9
    assert extractive["refusal_control_found_rate"] >= 0.8  # with the evidence the questions are answered
    assert extractive["refusal_rate"] == pytest.approx(1.0)  # without it they are refused
    assert extractive["removed_documents"] == 9
    assert extractive["answer_containment"] >= 0.7
    assert extractive["citation_precision"] == pytest.approx(1.0)
    assert (tmp_path / "index" / "complete.json").exists()  # the shared index was left whole
    assert json.loads((tmp_path / "index" / "complete.json").read_text())["chunks"] == len(DOCS)


def test_answer_evaluation_runs_the_llm_generator_when_configured(
    tmp_path: Path,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    dataset = write_beir(tmp_path / "tiny")
    args = parse_args([
        "--dataset", str(dataset), "--workdir", str(tmp_path / "index"), "--out", str(tmp_path / "run"),
        "--no-optimize", "--answers-only", "--answer-sample", "6", "--refusal-sample", "6",
    ])  # fmt: skip
    settings = Settings(llm_base_url=fake_openai.url, llm_model="gpt-4o-mini", llm_api_key=SecretStr("sk-test"))
    results = run(args, settings)

    gens = results["answers"]["generators"]
    assert set(gens) == {"extractive", "llm"}
    assert gens["llm"]["questions"] == 6 and fake_openai.requests  # the LLM was really asked
    # The fake's canned "The answer is in the sources [1]." is found but neither contains nor is supported by
    # the gold evidence; with the evidence removed no hit passes the relevance floor, so it refuses.
    assert gens["llm"]["found_rate"] == pytest.approx(1.0)
    assert gens["llm"]["answer_containment"] == pytest.approx(0.0)
    assert gens["llm"]["groundedness"] == pytest.approx(0.0)
    assert gens["llm"]["refusal_rate"] == pytest.approx(1.0)
    assert "results" not in results  # --answers-only skips the retrieval comparison
    assert "| measure | extractive | llm |" in (tmp_path / "run" / "report.md").read_text()
