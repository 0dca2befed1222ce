"""Smoke tests of the benchmarks at a tiny size: ``python -m askdocs.eval.bench``, ``.remote_ingest``, ``.sizing``."""

from __future__ import annotations

import json
from pathlib import Path

from askdocs.eval.bench import remote_ingest, sizing
from askdocs.eval.bench.__main__ import parse_args, run
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend


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


def test_remote_ingest_bench_reports_a_share_of_the_ceiling_no_higher_than_it(tmp_path: Path) -> None:
    result = remote_ingest.measure(4, 0.05, 4, 2, tmp_path, lookahead=2)
    assert result["chunks"] > 0 and result["max_in_flight"] == 4
    assert result["requests"] >= result["chunks"] / 4
    # The endpoint answers each request 50 ms after it arrived: no run can beat the ceiling.
    assert 0 < result["share_of_ceiling"] <= result["steady_share_of_ceiling"] <= 1.0
    assert result["ramp_up_s"] >= 0 and result["tail_s"] >= 0 and result["load_1m"] >= 0


def test_sizing_bench_writes_chunks_as_askdocs_stores_them(tmp_path: Path) -> None:
    written = sizing.write("edge", "int8-on-disk", tmp_path, 300)
    assert written["chunks"] == 300
    index = Index(EdgeBackend(tmp_path / "edge"))
    stored = index.stored_chunks([f"files:d{d}" for d in range(300 // 8)], ["language", "text", "heading"])
    names = {point.payload["language"]: set(point.dense) for point in stored}
    assert names == {
        "en": {"minilm-l6-int8", "use-multilingual", "use-multilingual-title"},
        "ja": {"use-multilingual", "use-multilingual-title"},  # its own model is the multilingual one
    }
    index.close()
    assert sizing.read("edge", "int8-on-disk", tmp_path, queries=3)["rss_bytes"] > 0
    rows = [
        {"engine": "edge", "layout": "int8-on-disk", "size": n, "rss_bytes": n * 1e3, "disk_bytes": n * 2e3}
        for n in (1000, 2000)
    ]
    assert "| edge | int8-on-disk | 2,000 | 2 | 4 | 1.00 / 2.00 | 10.0 / 20.0 |" in sizing.table(rows)
