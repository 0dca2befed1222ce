"""Smoke test of the performance benchmark (``python -m askdocs.eval.bench``) at a tiny size."""

from __future__ import annotations

import json
from pathlib import Path

from askdocs.eval.bench.__main__ import parse_args, run


def test_bench_runs_at_a_tiny_size_and_reports_every_figure(tmp_path: Path) -> None:
    args = parse_args(
        [
            "--sizes", "300",
            "--queries", "10",
            "--clients", "1,2",
            "--workdir", str(tmp_path / "work"),
            "--runs-dir", str(tmp_path / "runs"),
            "--ingest-chunks", "8",
            "--recall-chunks", "200",
            "--recall-queries", "10",
            "--dense-recall-queries", "5",
            "--peer-queries", "3",
            "--in-process",
        ]
    )  # fmt: skip
    results = run(args)
    run_dir = Path(results["run_dir"])
    saved = json.loads((run_dir / "results.json").read_text())
    assert (run_dir / "report.md").read_text().startswith("# askdocs benchmark")

    for row in (saved["ingest"]["minilm-l6-int8"], saved["ingest"]["use-multilingual"]):
        assert row["chunks"] > 0 and row["bare_chunks_per_s"] > 0 and row["pipeline_chunks_per_s"] > 0
    assert 0 < saved["recall"]["recall_at_10"] <= 1

    size = saved["sizes"]["300"]
    assert size["build"]["chunks"] == 300
    assert size["build"]["disk_bytes_plain"] > 0 and size["build"]["disk_bytes_hnsw"] > 0
    for variant in ("plain", "hnsw"):
        latency = size["latency"][variant]
        assert latency["rss_bytes"] > 0
        assert [r["clients"] for r in latency["runs"]] == [1, 2]
        for r in latency["runs"]:
            assert r["queries"] == 10 and r["errors"] == 0
            assert 0 < r["p50_ms"] <= r["p95_ms"]
            assert r["mean_hits"] > 0
    assert 0 < size["latency"]["hnsw"]["dense_recall_at_10_vs_exact"] <= 1
    assert size["langchain"]["p50_ms"] > 0 and size["speedup_vs_langchain_p50"] > 0
