"""What the index integrity checks cost: ``python -m askdocs.eval.bench.integrity --chunks 10000 50000``.

Writes N chunks (4 per document, 4 sources, random dense vectors, random BM25 terms) into an Edge index in a
temporary folder through the ``Index`` facade, records a sync per source, then times the check on open
(per-source counts and the BM25 recount), what every sync adds (per-source counts and a chunk count that decides
whether to recount) and ``/healthz``'s check.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from askdocs.ingest import integrity
from askdocs.ingest.sync import SyncReport
from askdocs.retrieval.index import CollectionSpec, Index, IndexedChunk
from askdocs.retrieval.index.edge import EdgeBackend

SOURCES = ("files", "slack", "confluence", "google-docs")
DENSE = {"minilm-l6-int8": 384}


def _write(index: Index, n_chunks: int, rng: np.random.Generator) -> None:
    batch: list[tuple[str, list[IndexedChunk]]] = []
    for doc_no in range(n_chunks // 4):
        source = SOURCES[doc_no % len(SOURCES)]
        chunks = []
        for chunk_no in range(4):
            terms = sorted({int(t) for t in rng.integers(0, 50_000, 40)})
            payload = {"doc_id": f"{source}:{doc_no}", "chunk_no": chunk_no, "source": source, "acl": ["public"]}
            dense = rng.standard_normal(DENSE["minilm-l6-int8"]).astype(float).tolist()
            chunks.append(IndexedChunk(payload, "minilm-l6-int8", dense, (terms, [1.0] * len(terms)), dl=60))
        batch.append((f"{source}:{doc_no}", chunks))
        if len(batch) == 256:
            index.write_documents(batch)
            batch = []
    index.write_documents(batch)
    index.flush()


def _sync_checks(index: Index, state: Path, report: SyncReport) -> None:
    baseline, _ = integrity.before_sync(index, state, "files", "files")
    integrity.after_sync(index, state, "files", "files", report, False, baseline)


def _timed(fn: object, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main(argv: list[str] | None = None) -> None:
    """Print the figures for each size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000, 50_000])
    args = parser.parse_args(argv)
    print("| chunks | check on open, ms | after each sync, ms | /healthz check, ms |")
    print("|---:|---:|---:|---:|")
    for size in args.chunks:
        with tempfile.TemporaryDirectory(prefix="askdocs-integrity-") as tmp:
            folder, state = Path(tmp) / "edge" / "bench", Path(tmp) / "state"
            index = Index(EdgeBackend(folder))
            index.ensure(CollectionSpec(dense=DENSE))
            _write(index, size, np.random.default_rng(7))
            for source in SOURCES:
                baseline, _ = integrity.before_sync(index, state, source, source)
                integrity.after_sync(index, state, source, source, SyncReport(source=source), True, baseline)
            names = list(SOURCES)
            check_ms = _timed(lambda: integrity.check(index, state, names))  # noqa: B023 - used at once
            report = SyncReport(source="files")
            recount_ms = _timed(lambda: _sync_checks(index, state, report))  # noqa: B023
            health_ms = _timed(lambda: integrity.health(index, state))  # noqa: B023
            assert not integrity.check(index, state, names), "a consistent index has no problem"
            index.close()
        print(f"| {size:,} | {check_ms:.0f} | {recount_ms:.0f} | {health_ms:.1f} |")


if __name__ == "__main__":
    main()
