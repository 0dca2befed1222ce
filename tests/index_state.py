"""What an index holds, for comparing a resumed (killed and restarted) sync with a clean one."""

from __future__ import annotations

from typing import Any

from askdocs.retrieval.index import Index, IndexFilter


def chunk_payloads(index: Index, source: str | None = None) -> dict[str, dict[str, Any]]:
    """Point id -> payload of every chunk (of ``source``), less ``bm25_avgdl``.

    That field records the average length at the moment of writing, which depends on how the run was batched
    and interrupted, as the BM25 weights do until a refresh settles them; everything else must converge.
    """
    flt = IndexFilter(sources=(source,) if source else None)
    return {p.id: {k: v for k, v in p.payload.items() if k != "bm25_avgdl"} for p in index.chunks(flt)}
