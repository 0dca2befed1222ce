"""Performance benchmark: synthetic corpora at scale, ingest overhead, HTTP query latency, memory, disk, HNSW recall.

Run ``python -m askdocs.eval.bench --help``; results go to ``runs/bench-<timestamp>/``
(``results.json``, ``report.md``).
"""
