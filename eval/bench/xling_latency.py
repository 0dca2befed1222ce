"""What cross-lingual search adds to a query: the same index and queries with it on and off, interleaved per query
(so load on the machine hits both alike), query embedding included.

Example (the index of ``askdocs index`` or of an ``askdocs eval`` run; built with cross-lingual search on)::

    python -m askdocs.eval.bench.xling_latency --data-dir data \
        --queries ../shared/datasets/xling-docs-en2ja-dev/queries.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from askdocs.app import Services
from askdocs.models import PUBLIC
from askdocs.settings import Settings

SAMPLE_QUERIES = ["How do I connect to the VPN?", "オンコールの手順", "How do I reissue my Tokyo office entry card?",
                  "東京オフィスの入館カードの再発行手数料", "parental leave", "防災訓練はいつですか", "deploy process",
                  "経費精算の締め日"]  # fmt: skip


def measure(services: Services, queries: list[str], rounds: int) -> dict[str, dict[str, float]]:
    """p50/p95 ms of ``retriever.search`` with cross-lingual search on and off, alternating per query."""
    retriever = services.retriever
    xling = retriever.xling
    times: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for query in queries:
            for state in ("on", "off"):
                retriever.xling = xling if state == "on" else None
                started = time.perf_counter()
                retriever.search(query, [PUBLIC], top_k=10)
                times[state].append((time.perf_counter() - started) * 1000)
    retriever.xling = xling
    return {
        state: {"p50_ms": round(float(np.percentile(t, 50)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2)}
        for state, t in times.items()
    }


def main(argv: list[str] | None = None) -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m askdocs.eval.bench.xling_latency", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="ASKDOCS_DATA_DIR of the index")
    parser.add_argument("--collection", default="askdocs")
    parser.add_argument("--queries", type=Path, help="BEIR queries.jsonl (default: a few sample questions)")
    parser.add_argument("--limit", type=int, default=200, help="queries used from the file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    queries = SAMPLE_QUERIES
    if args.queries:
        lines = args.queries.read_text(encoding="utf-8").splitlines()
        queries = [json.loads(line)["text"] for line in lines if line.strip()][: args.limit]
    services = Services.build(Settings(data_dir=args.data_dir, collection=args.collection, scheduler=False))
    services.warm_up()
    measure(services, queries[:5], 1)  # warm caches
    print(json.dumps({"queries": len(queries), "rounds": args.rounds, **measure(services, queries, args.rounds)}))
    services.close()


if __name__ == "__main__":
    main()
