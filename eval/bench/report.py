"""The run folder's ``results.json`` and ``report.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _mb(value: Any) -> str:
    return f"{value / 2**20:.0f}" if isinstance(value, int | float) else "—"


def _run(result: dict[str, Any], variant: str, clients: int) -> dict[str, Any]:
    for run in result.get("latency", {}).get(variant, {}).get("runs", []):
        if run["clients"] == clients:
            return dict(run)
    return {}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    """The human report: settings, ingest overhead, per-size table, HNSW recall, notes on synthetic data."""
    lines = [f"# askdocs benchmark — {results['started']}", ""]
    args = results["args"]
    lines += [
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Queries per client setting: {args['queries']}; clients: {args['clients']}; seed {args['seed']}; "
        f"Japanese share {args['ja_share']}.",
        "",
        "## Ingest: real pipeline vs bare embedder (real models, same chunks)",
        "",
        "| model | chunks | bare embedder chunks/s | pipeline (Indexer.write) chunks/s | pipeline / bare |",
        "|---|---:|---:|---:|---:|",
    ]
    ingest = results.get("ingest") or {}
    for name, row in ingest.items():
        if isinstance(row, dict):
            lines.append(
                f"| {name} | {row['chunks']} | {row['bare_chunks_per_s']} | {row['pipeline_chunks_per_s']} | "
                f"{row['pipeline_share_of_bare']:.1%} |"
            )
    if ingest.get("overall_pipeline_share_of_bare") is not None:
        lines.append(f"| all (time-weighted) | | | | {ingest['overall_pipeline_share_of_bare']:.1%} |")
    lines += ["", "Target: pipeline >= 85% of the bare embedder.", ""]
    clients = args["clients"]
    lines += ["## Per size (HTTP `POST /v1/search`, top_k 10, caller ACL filter, query embedding included)", ""]
    head = ["size", "build s (chunks/s)", "optimize s"]
    for variant in ("plain", "hnsw"):
        for c in clients:
            head.append(f"{variant} {c}c p50/p95 ms")
    head += [
        "dense recall@10 HNSW (synthetic)",
        "RSS MB plain/hnsw",
        "disk MB plain/hnsw",
        "LangChain p50/p95 ms (n)",
        "askdocs speed-up (p50, 1c HNSW)",
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size, res in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        build = res.get("build", {})
        row = [
            size,
            f"{_fmt(build.get('build_s'))} ({_fmt(build.get('build_chunks_per_s'))})",
            _fmt(build.get("optimize_s")),
        ]
        for variant in ("plain", "hnsw"):
            for c in clients:
                run = _run(res, variant, c)
                row.append(f"{_fmt(run.get('p50_ms'))} / {_fmt(run.get('p95_ms'))}" if run else "—")
        lat = res.get("latency", {})
        row.append(_fmt(lat.get("hnsw", {}).get("dense_recall_at_10_vs_exact"), 3))
        row.append(f"{_mb(lat.get('plain', {}).get('rss_bytes'))} / {_mb(lat.get('hnsw', {}).get('rss_bytes'))}")
        row.append(f"{_mb(build.get('disk_bytes_plain'))} / {_mb(build.get('disk_bytes_hnsw'))}")
        peer = res.get("langchain") or {}
        if peer.get("p50_ms"):
            row.append(f"{_fmt(peer['p50_ms'])} / {_fmt(peer['p95_ms'])} ({peer['queries']})")
            row.append(_fmt(res.get("speedup_vs_langchain_p50"), 1) + "x")
        else:
            row += [peer.get("skipped", "—"), "—"]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Targets: at 100k chunks, 1 client, p95 <= 50 ms; askdocs >= 10x faster than the LangChain ensemble.",
        "",
    ]
    recall = results.get("recall")
    if recall:
        lines += [
            "## HNSW recall on real embeddings",
            "",
            f"{recall['points']} chunks embedded with the real `{recall['embedder']}` model, {recall['queries']} real "
            f"query embeddings; HNSW (Edge defaults) after `optimize()` ({recall['hnsw_indexed_vectors']} vectors "
            f"indexed) vs `SearchParams(exact=True)`: **recall@10 = {recall['recall_at_10']:.4f}** "
            f"(exact p50 {recall['exact_p50_ms']} ms, HNSW p50 {recall['hnsw_p50_ms']} ms, engine only).",
            "",
        ]
        sweep = recall.get("recall_at_10_by_hnsw_ef")
        if sweep:
            lines += ["Search-time `hnsw_ef`: " + ", ".join(f"ef={ef}: {r:.4f}" for ef, r in sweep.items()), ""]
    lines += [
        "## What is synthetic",
        "",
        "- Corpus text: generated (Zipfian seeded vocabulary, 120-200 words per chunk, English + Japanese).",
        "- Ingest overhead and HNSW recall use REAL embeddings from the real models.",
        "- The per-size indexes use real BM25 sparse vectors (the real analyzer) but SYNTHETIC dense vectors: "
        "normalised noisy mixes of real pool embeddings. Latency, RSS, disk, the per-size dense recall column and "
        "the LangChain baseline all use those synthetic dense vectors; queries are embedded by the real models.",
        "- LangChain baseline: in-process (no HTTP, no ACL filter), English queries only, one English embedder; "
        "askdocs is measured through HTTP with the ACL filter.",
        "- `plain` = the shard as written (no HNSW: exact search); `hnsw` = the same shard after `Index.optimize()`.",
        "",
    ]
    return "\n".join(lines)


def write(run_dir: Path, results: dict[str, Any]) -> None:
    """Write ``results.json`` and ``report.md`` into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (run_dir / "report.md").write_text(markdown(results))
