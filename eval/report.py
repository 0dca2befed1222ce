"""The run folder's ``report.md`` (Markdown tables) and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRICS = ("ndcg@10", "recall@100", "mrr@10")


def add_ratios(rows: list[dict[str, Any]], bm25: str, langchain: str) -> list[dict[str, Any]]:
    """Add quality ratios (nDCG@10 / reference) and speed ratios (reference p50 / p50) against two references."""
    by_name = {r["config"]: r for r in rows}
    for row in rows:
        for key, ref_name in (("vs_bm25", bm25), ("vs_langchain", langchain)):
            ref = by_name.get(ref_name)
            if ref is None:
                continue
            row[key] = {
                "quality": round(row["ndcg@10"] / ref["ndcg@10"], 3) if ref["ndcg@10"] else None,
                "speed_p50": round(ref["p50_ms"] / row["p50_ms"], 2) if row["p50_ms"] else None,
                "speed_p95": round(ref["p95_ms"] / row["p95_ms"], 2) if row["p95_ms"] else None,
            }
    return rows


def _ratio(row: dict[str, Any], key: str, field: str) -> str:
    value = (row.get(key) or {}).get(field)
    return "—" if value is None else f"{value:.3f}" if field == "quality" else f"{value:.2f}x"


def retrieval_table(results: dict[str, Any]) -> str:
    """Quality, latency and ratios per configuration, one row each."""
    lines = [
        "| config | nDCG@10 | Recall@100 | MRR@10 | p50 ms | p95 ms | ingest chunks/s | nDCG vs BM25 | speed vs BM25 "
        "| nDCG vs LangChain | speed vs LangChain |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.get("results", []):
        ingest = f"{r['ingest_chunks_per_s']:.1f}" + ("*" if r["kind"] == "baseline" else "")
        lines.append(
            f"| {r['config']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} | {r['mrr@10']:.4f} | {r['p50_ms']:.1f} "
            f"| {r['p95_ms']:.1f} | {ingest} | {_ratio(r, 'vs_bm25', 'quality')} "
            f"| {_ratio(r, 'vs_bm25', 'speed_p50')} | {_ratio(r, 'vs_langchain', 'quality')} "
            f"| {_ratio(r, 'vs_langchain', 'speed_p50')} |"
        )
    return "\n".join(lines)


def answers_table(answers: dict[str, Any]) -> str:
    """Answer-evaluation figures per generator."""
    keys = [
        ("questions", "questions"),
        ("found_rate", "found rate"),
        ("answer_containment", "answer containment (of found / of all)"),
        ("citation_precision", "citation precision (support)"),
        ("citation_gold_precision", "cited chunk holds a gold answer"),
        ("citation_relevant_precision", "cited document is judged relevant"),
        ("groundedness", "groundedness (mean)"),
        ("refusal_rate", "refusal rate, evidence removed"),
        ("refusal_control_found_rate", "found rate, same questions, evidence kept"),
        ("p50_ms", "answer p50 ms (retrieve + answer)"),
    ]
    gens = list(answers.get("generators", {}))
    lines = ["| measure | " + " | ".join(gens) + " |", "|---|" + "---:|" * len(gens)]
    for key, label in keys:
        cells = []
        for g in gens:
            value = answers["generators"][g].get(key)
            if key == "answer_containment" and value is not None:
                allq = answers["generators"][g].get("answer_containment_all")
                cells.append(f"{value:.3f} / {allq:.3f}" if allq is not None else f"{value:.3f}")
            elif isinstance(value, float):
                cells.append(f"{value:.3f}")
            else:
                cells.append("—" if value is None else str(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, Any], out: Path) -> list[str]:
    """One quality bar chart per metric and one latency chart; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.get("results", [])
    if not rows:
        return []
    names = [r["config"] for r in rows]
    colours = {"askdocs": "tab:blue", "variant": "tab:gray", "idea": "tab:green", "baseline": "tab:orange"}
    files: list[str] = []
    height = max(3.0, 0.35 * len(rows) + 1.2)
    for metric in METRICS:
        fig, ax = plt.subplots(figsize=(8, height))
        values = [r[metric] for r in rows]
        ax.barh(names, values, color=[colours.get(r["kind"], "tab:gray") for r in rows])
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, min(1.0, max(values) * 1.15) or 1.0)
        ax.set_xlabel(metric)
        ax.set_title(f"{results['dataset']}: {metric} ({results['queries']} queries)")
        fig.tight_layout()
        name = f"quality_{metric.replace('@', '')}.png"
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        files.append(name)
    fig, ax = plt.subplots(figsize=(8, height))
    ys = range(len(rows))
    ax.barh([y - 0.2 for y in ys], [r["p50_ms"] for r in rows], height=0.4, label="p50")
    ax.barh([y + 0.2 for y in ys], [r["p95_ms"] for r in rows], height=0.4, label="p95")
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("query latency, ms (incl. query embedding)")
    ax.legend()
    ax.set_title(f"{results['dataset']}: query latency")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=100)
    plt.close(fig)
    return [*files, "latency.png"]


def write_report(results: dict[str, Any], out: Path) -> None:
    """Write ``report.md`` and the plots into ``out``."""
    pngs = plot(results, out)
    ingest = results.get("ingest", {})
    parts = [
        f"# askdocs eval: {results['dataset']} ({results['split']})",
        "",
        f"- {results['documents']} documents, {results['queries']} queries; language {results['language']}; "
        f"models {results['models']} (en={results['embedder_en']}, ja={results['embedder_ja']})",
        f"- index {results['workdir']}: {ingest.get('chunks')} chunks, ingest {ingest.get('chunks_per_s')} chunks/s"
        f"{' (reused index; rate of the run that built it)' if ingest.get('reused') else ''}",
        f"- query embedding p50 {results['query_embed_p50_ms']} ms, included in every dense/hybrid latency",
        "- speed ratio = reference p50 / config p50 (higher is faster); nDCG ratio = config / reference",
        "- ingest chunks/s: askdocs rows share one index (embedding included); * LangChain: building BM25 + the "
        "in-memory Qdrant collection from the index's vectors only (embedding excluded, so not comparable)",
        *[f"- note: {n}" for n in results.get("notes", [])],
        "",
    ]
    if results.get("results"):
        parts += ["## Retrieval", "", retrieval_table(results), ""]
        notes = [f"- **{r['config']}**: {r['note']}" for r in results["results"] if r.get("note")]
        parts += [*notes, ""]
        parts += [f"![{p}]({p})" for p in pngs] + [""]
    if results.get("answers"):
        ans = results["answers"]
        parts += ["## Answers (/v1/ask logic)", "", answers_table(ans), ""]
        parts += [f"- {n}" for n in ans.get("notes", [])] + [""]
    (out / "report.md").write_text("\n".join(parts), encoding="utf-8")
