"""The dense vectors of a batch of chunks: each model's, reusing what the index already stores for the same text."""

from __future__ import annotations

from typing import Any

from askdocs.models import Chunk, embed_text
from retrieval.embedders import Embedder, LanguageEmbedders
from retrieval.index import StoredVectors


def stored_embed_text(payload: dict[str, Any]) -> str | None:
    """``Chunk.embed_text`` rebuilt from a stored chunk's payload (None when it holds no text)."""
    text = payload.get("text")
    if not isinstance(text, str):
        return None
    return embed_text(payload.get("title") or "", payload.get("heading") or "", text)


def heading_trail(title: str, heading: str) -> str:
    """What a chunk's title vector embeds: its title and heading trail ('' when it has neither)."""
    return embed_text(title, heading, "").strip()


def chunk_vectors(
    embedders: LanguageEmbedders, chunks: list[Chunk], stored: list[StoredVectors]
) -> tuple[list[dict[str, list[float]]], int]:
    """Vectors per chunk (name -> vector: its language's model first, then the multilingual model's of its text
    and of its heading trail), and how many chunks needed at least one embedding.

    A vector whose model and exact text (title and heading included) is already ``stored`` for these documents is
    kept: an analyzer or BM25 change, or an edit to one part of a long document, then costs analysis instead of
    embedding. A Japanese chunk whose language model is the multilingual one stores that vector once. Each
    distinct text is embedded once per batch (a heading trail is shared by the chunks of its section).
    """
    titles = embedders.title_vector
    kept: dict[tuple[str, str], list[float]] = {}
    for point in stored:
        text = stored_embed_text(point.payload)
        trail = heading_trail(point.payload.get("title") or "", point.payload.get("heading") or "")
        for name, vector in point.dense.items():
            key = trail if name == titles else text
            if key is not None:
                kept[(name, key)] = vector
    out: list[dict[str, list[float]]] = [{} for _ in chunks]
    todo: dict[str, tuple[Embedder, dict[str, list[int]]]] = {}
    for i, chunk in enumerate(chunks):
        wanted = [(e.name, e, chunk.embed_text) for e in embedders.for_chunk(chunk.language)]
        trail = heading_trail(chunk.title, chunk.heading)
        if titles is not None and embedders.multilingual is not None and trail:
            wanted.append((titles, embedders.multilingual, trail))
        for name, embedder, text in wanted:
            reused = kept.get((name, text))
            out[i][name] = reused if reused is not None else []
            if reused is None:
                todo.setdefault(name, (embedder, {}))[1].setdefault(text, []).append(i)
    embedded: set[int] = set()
    for name, (embedder, by_text) in todo.items():
        rows = embedder.embed_documents(list(by_text))
        for positions, row in zip(by_text.values(), rows):
            for i in positions:
                out[i][name] = row.tolist()
                embedded.add(i)
    return out, len(embedded)
