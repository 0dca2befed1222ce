"""``python -m askdocs.eval.bench.remote_ingest``: does a sync keep a remote embedding endpoint busy?

Runs full syncs of the bench corpus (English) through the real pipeline (``Indexer`` with its look-ahead, the remote
embedder, Qdrant Edge) against the project's fake OpenAI server (``tests/openai_server.py``, so a source checkout),
which answers every request after a fixed delay. With ``c`` requests in flight, ``batch`` passages each and ``delay``
seconds per request the endpoint's ceiling is ``c * batch / delay`` chunks/s; the figure is the share of it reached.

Example::

    .venv/bin/python -m askdocs.eval.bench.remote_ingest --concurrency 1,4,16 --delay 1.0 --batch 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from askdocs.eval.bench.corpus import iter_docs
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer, remote_batch_chunks
from askdocs.models import Document
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.remote_embedder import RemoteEmbedder
from askdocs.retrieval.remote_spec import RemoteOptions

TESTS = Path(__file__).resolve().parents[2] / "tests"


class _Corpus:
    """A load-only connector over generated documents."""

    source = "bench"

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents

    def load_all(self) -> Iterator[Document]:
        yield from self.documents


def _fake_server(delay_s: float) -> Any:
    """The fake OpenAI server from the test suite, answering every request after ``delay_s``."""
    if not (TESTS / "openai_server.py").is_file():
        raise SystemExit("this benchmark needs the source checkout's tests/openai_server.py")
    sys.path.insert(0, str(TESTS))
    from openai_server import FakeOpenAI, Reply

    server = FakeOpenAI().start()
    server.responder = lambda body: Reply(delay_s=delay_s)
    return server


def measure(concurrency: int, delay_s: float, batch: int, waves: int, workdir: Path, lookahead: int) -> dict[str, Any]:
    """One full sync of ``concurrency * batch * waves`` chunks; chunks/s against the endpoint's ceiling."""
    server = _fake_server(delay_s)
    try:
        options = RemoteOptions(
            batch_size=batch, batch_tokens=300_000, concurrency=concurrency, tiktoken_dir=str(workdir / "tiktoken")
        )
        remote = RemoteEmbedder.from_spec(f"openai-compatible:bench-model@{server.url}", options)
        remote.warm_up()  # the dimension probe, outside the timing
        embedders = LanguageEmbedders({"en": remote, "ja": remote})
        # The corpus's generated sections come out as ~2.5 chunks of 200 tokens each: about 1.25 * waves rounds.
        documents = [d.document() for d in iter_docs(13, concurrency * batch * waves // 2, ja_share=0.0)]
        folder = workdir / f"edge-c{concurrency}"
        shutil.rmtree(folder, ignore_errors=True)
        analyzer = Analyzer()
        analyzer.terms("warm up", "en")
        indexer = Indexer(
            Index(EdgeBackend(folder)), embedders, Chunker(embedders.for_language, 200, 30), analyzer,
            lookahead=lookahead, batch_chunks=remote_batch_chunks(concurrency, batch),  # as `askdocs` sets it
        )  # fmt: skip
        created = time.perf_counter()
        indexer.ensure_index()  # creating the collection is a one-time cost, timed apart from the ingest
        started = time.perf_counter()
        report = indexer.full_sync(_Corpus(documents))
        elapsed = time.perf_counter() - started
        indexer.index.close()
        remote.close()
    finally:
        server.stop()
    usage = remote.usage()
    requests = usage.requests - 1  # less the dimension probe
    rate = report.embedded_chunks / elapsed
    ceiling = concurrency * batch / delay_s
    return {
        "concurrency": concurrency,
        "chunks": report.embedded_chunks,
        "requests": requests,
        "reweighted": report.reweighted,
        "seconds": round(elapsed, 2),
        "create_collection_s": round(started - created, 2),
        "busy_s": round(usage.seconds, 2),
        "chunks_per_s": round(rate, 1),
        "ceiling_chunks_per_s": round(ceiling, 1),
        "share_of_ceiling": round(rate / ceiling, 3),
        "share_of_request_bound": round(requests * delay_s / concurrency / elapsed, 3),
        "max_in_flight": server.max_in_flight,
    }


def main(argv: list[str] | None = None) -> None:
    """Print one JSON line per concurrency setting."""
    p = argparse.ArgumentParser(prog="python -m askdocs.eval.bench.remote_ingest", description=__doc__)
    p.add_argument("--concurrency", default="1,4,16", help="requests in flight, comma-separated")
    p.add_argument("--delay", type=float, default=1.0, help="seconds the endpoint takes per request")
    p.add_argument("--batch", type=int, default=8, help="passages per request")
    p.add_argument("--waves", type=int, default=20, help="rounds of full concurrency the corpus needs")
    p.add_argument("--lookahead", type=int, default=4, help="document batches embedded ahead of the writer")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="askdocs-remote-bench-") as tmp:
        for concurrency in (int(c) for c in args.concurrency.split(",") if c.strip()):
            result = measure(concurrency, args.delay, args.batch, args.waves, Path(tmp), args.lookahead)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
