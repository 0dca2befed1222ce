"""How often a search with ``top_k`` returns fewer documents than asked: the old chunk budget (``top_k * 4`` chunks
collapsed by document) against reading until ``top_k`` documents are found (``HybridRetriever.search``).

``python -m askdocs.eval.topk_documents --dataset ../shared/datasets/scifact-dev \
--workdir /tmp/askdocs-eval/scifact-dev-minilm-l6-int8`` (an index ``askdocs eval`` built) prints a line per ``top_k``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from askdocs.eval.beir import load_beir
from askdocs.eval.runner import cached_embedders
from askdocs.models import PUBLIC
from askdocs.retrieval.analyzer import Analyzer
from askdocs.retrieval.hybrid import HybridRetriever
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend
from askdocs.settings import Settings


def main() -> None:
    """Print, per ``top_k``, the share of queries short of ``top_k`` documents before and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--workdir", required=True, help="folder of an index built by askdocs eval")
    parser.add_argument("--top-k", default="3,5,10")
    args = parser.parse_args()
    queries = load_beir(args.dataset).queries
    index = Index(EdgeBackend(Path(args.workdir) / "edge"))
    retriever = HybridRetriever(index, cached_embedders(Settings())[0], Analyzer())
    for top_k in (int(k) for k in args.top_k.split(",")):
        old = [
            len({c.payload["doc_id"] for c in retriever.search_chunks(q, [PUBLIC], limit=top_k * 4)})
            for q in queries.values()
        ]
        new = [len(retriever.search(q, [PUBLIC], top_k=top_k)) for q in queries.values()]
        short_old = sum(n < top_k for n in old) / len(old)
        short_new = sum(n < top_k for n in new) / len(new)
        print(
            f"top_k {top_k}: {len(old)} queries; fewer than top_k documents: {short_old:.1%} before, "
            f"{short_new:.1%} after; mean documents {sum(old) / len(old):.2f} before, {sum(new) / len(new):.2f} after"
        )
    index.close()


if __name__ == "__main__":
    main()
