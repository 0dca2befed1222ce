"""``python -m askdocs.eval.bench.reanalyse``: what a BM25 change costs once written chunks keep their vectors.

Writes the bench corpus through ``Indexer.write`` (batches of 32 documents), then writes it again with another
k1, as after an analyzer upgrade or a BM25 retune: the second pass finds every chunk's text stored under the same
model, so it re-analyses and embeds nothing. Prints chunks, chunks embedded and seconds for both passes, per language.

Example::

    .venv/bin/python -m askdocs.eval.bench.reanalyse --chunks 3000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from askdocs.eval.bench.ingest import BATCH_DOCS, _docs
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer, SyncReport
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend


def measure(embedders: LanguageEmbedders, workdir: Path, n_chunks: int, seed: int = 13) -> list[dict[str, object]]:
    """Per language: the first write and a rewrite with k1 0.6, each as chunks, chunks embedded and seconds."""
    embedders.warm_up()
    analyzer = Analyzer()
    chunker = Chunker(embedders.for_language, 200, 30)
    rows: list[dict[str, object]] = []
    for language in ("en", "ja"):
        docs = [d.document() for d in _docs(seed, language, max(1, n_chunks // 2))]
        folder = workdir / f"reanalyse-{language}"
        shutil.rmtree(folder, ignore_errors=True)
        index = Index(EdgeBackend(folder / "edge"))
        for k1, label in ((1.2, "first write"), (0.6, "rewrite with k1 0.6")):
            indexer = Indexer(index, embedders, chunker, analyzer, k1=k1, batch_docs=BATCH_DOCS)
            indexer.ensure_index()
            report = SyncReport(source="bench")
            start = time.perf_counter()
            for i in range(0, len(docs), BATCH_DOCS):
                indexer.write(docs[i : i + BATCH_DOCS], report)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "language": language,
                    "pass": label,
                    "chunks": report.chunks_written,
                    "embedded": report.embedded_chunks,
                    "seconds": round(seconds, 1),
                    "chunks_per_s": round(report.chunks_written / max(seconds, 1e-9), 1),
                }
            )
        index.close()
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--chunks", type=int, default=3000, help="generated chunks, half per language")
    args = parser.parse_args()
    embedders = LanguageEmbedders.from_names("minilm-l6-int8", "use-multilingual")
    with tempfile.TemporaryDirectory(prefix="askdocs-reanalyse-") as tmp:
        rows = measure(embedders, Path(tmp), args.chunks)
    print("| language | pass | chunks | embedded | seconds | chunks/s |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        cells = (r["language"], r["pass"], r["chunks"], r["embedded"], r["seconds"], r["chunks_per_s"])
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
