"""``python -m askdocs.eval.bench.remote_ingest``: does a sync keep a remote embedding endpoint busy?

Runs full syncs of the bench corpus (English) through the real pipeline (``Indexer`` with its look-ahead, the remote
embedder, Qdrant Edge) against the project's fake OpenAI server (``tests/openai_server.py``, so a source checkout),
run in a process of its own and answering every request a fixed delay after it arrived. With ``c`` requests in
flight, ``batch`` passages each and ``delay`` seconds per request the endpoint's ceiling is ``c * batch / delay``
chunks/s; the figure is the share of it reached over the whole sync (``share_of_ceiling``) and from the first
request to the last answer (``steady_share_of_ceiling``: without the ramp-up before the first request and the write
after the last answer). Each line carries the machine's 1-minute load average (``load_1m``): a busy machine slows
the client down.

Example::

    .venv/bin/python -m askdocs.eval.bench.remote_ingest --concurrency 1,4,16 --delay 1.0 --batch 8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from askdocs.eval.bench.corpus import ListedDocuments, iter_docs
from askdocs.ingest.chunker import Chunker
from askdocs.ingest.sync import Indexer, remote_batch_chunks
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.retrieval.remote_embedder import RemoteEmbedder
from askdocs.retrieval.remote_spec import RemoteOptions

TESTS = Path(__file__).resolve().parents[2] / "tests"


class _FakeServer:
    """The fake OpenAI server from the test suite in a process of its own (a real endpoint takes no CPU time from
    the client's interpreter), answering every request ``delay_s`` after it arrived."""

    def __init__(self, delay_s: float) -> None:
        script = TESTS / "openai_server.py"
        if not script.is_file():
            raise SystemExit("this benchmark needs the source checkout's tests/openai_server.py")
        command = [sys.executable, str(script), "--delay", str(delay_s)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None and self._process.stdin is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url:
            raise SystemExit("the fake OpenAI server did not start")
        self.max_in_flight = 0

    def stop(self) -> None:
        """Stop it; ``max_in_flight``: the most requests it had at once."""
        out, _ = self._process.communicate(timeout=30)
        self.max_in_flight = int(out.split()[-1])


def measure(concurrency: int, delay_s: float, batch: int, waves: int, workdir: Path, lookahead: int) -> dict[str, Any]:
    """One full sync of ``concurrency * batch * waves`` chunks; chunks/s against the endpoint's ceiling."""
    server = _FakeServer(delay_s)
    try:
        options = RemoteOptions(
            batch_size=batch, batch_tokens=300_000, concurrency=concurrency, tiktoken_dir=str(workdir / "tiktoken")
        )
        spec = f"openai-compatible:bench-model@{server.url}"
        probe = RemoteEmbedder.from_spec(spec, options)
        probe.warm_up()  # the dimension probe, outside the timing (and outside the measured embedder's counters)
        probe.close()
        remote = RemoteEmbedder.from_spec(spec, options)
        remote.dim = probe.dim
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
        report = indexer.full_sync(ListedDocuments(documents))
        elapsed = time.perf_counter() - started
        indexer.index.close()
        remote.close()
    finally:
        server.stop()
    usage = remote.usage()
    first, last = remote.active_span() or (started, started + elapsed)
    rate = report.embedded_chunks / elapsed
    ceiling = concurrency * batch / delay_s
    return {
        "concurrency": concurrency,
        "chunks": report.embedded_chunks,
        "requests": usage.requests,
        "reweighted": report.reweighted,
        "seconds": round(elapsed, 2),
        "create_collection_s": round(started - created, 2),
        "ramp_up_s": round(first - started, 3),  # sync start to the first request
        "tail_s": round(started + elapsed - last, 3),  # last answer to the sync's end
        "busy_s": round(usage.seconds, 2),
        "chunks_per_s": round(rate, 1),
        "ceiling_chunks_per_s": round(ceiling, 1),
        "share_of_ceiling": round(rate / ceiling, 3),  # the whole sync
        "steady_share_of_ceiling": round(
            report.embedded_chunks / (last - first) / ceiling, 3
        ),  # first request to last answer
        "share_of_request_bound": round(usage.requests * delay_s / concurrency / elapsed, 3),
        "max_in_flight": server.max_in_flight,
        "load_1m": round(os.getloadavg()[0], 2),
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
