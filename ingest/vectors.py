"""The dense vectors of a batch of chunks: each model's, reusing what the index already stores for the same text."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol, cast

import numpy as np

from askdocs.models import Chunk, embed_text
from askdocs.retrieval.embedders import Embedder, LanguageEmbedders
from askdocs.retrieval.index import StoredVectors
from askdocs.retrieval.index.payload import ChunkPayload
from askdocs.retrieval.remote_embedder import submit_documents

# Embeddings asked for: vector name, for each text sent (in order) the positions of the chunks that use it, and
# the rows when they come.
VectorRequest = tuple[str, list[list[int]], "Future[np.ndarray]"]


class Embeddable(Protocol):
    """What chooses a chunk's vectors: a ``Chunk``, or a stored chunk's ``ChunkPayload``."""

    @property
    def language(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def heading(self) -> str: ...
    @property
    def embed_text(self) -> str: ...


def stored_embed_text(payload: dict[str, Any]) -> str | None:
    """``Chunk.embed_text`` rebuilt from a stored chunk's payload (None when it holds no text)."""
    return ChunkPayload.from_payload(payload).embed_text if isinstance(payload.get("text"), str) else None


def heading_trail(title: str, heading: str) -> str:
    """What a chunk's title vector embeds: its title and heading trail ('' when it has neither)."""
    return embed_text(title, heading, "").strip()


def request_vectors(
    embedders: LanguageEmbedders, chunks: list[Chunk] | list[ChunkPayload], stored: list[StoredVectors]
) -> tuple[list[dict[str, list[float]]], list[VectorRequest]]:
    """Vectors per chunk (name -> vector: its language's model first, then the multilingual model's of its text
    and of its heading trail) where a stored one is kept, and the embeddings requested for the others (a remote
    model answers later; ``fill_vectors`` puts the rows in place).

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
        chunk = cast(Embeddable, chunk)
        wanted = [(e.name, e, chunk.embed_text) for e in embedders.for_chunk(chunk.language)]
        trail = heading_trail(chunk.title, chunk.heading)
        if titles is not None and embedders.multilingual is not None and trail:
            wanted.append((titles, embedders.multilingual, trail))
        for name, embedder, text in wanted:
            reused = kept.get((name, text))
            out[i][name] = reused if reused is not None else []
            if reused is None:
                todo.setdefault(name, (embedder, {}))[1].setdefault(text, []).append(i)
    requests: list[VectorRequest] = [
        (name, list(by_text.values()), submit_documents(embedder, list(by_text)))
        for name, (embedder, by_text) in todo.items()
    ]
    return out, requests


def fill_vectors(vectors: list[dict[str, list[float]]], requests: list[VectorRequest]) -> int:
    """Wait for ``requests`` and put their rows in ``vectors``; how many chunks needed at least one embedding."""
    embedded: set[int] = set()
    for name, by_text, rows in requests:
        for positions, row in zip(by_text, rows.result()):
            for i in positions:
                vectors[i][name] = row.tolist()
                embedded.add(i)
    return len(embedded)


def chunk_vectors(
    embedders: LanguageEmbedders, chunks: list[Chunk], stored: list[StoredVectors]
) -> tuple[list[dict[str, list[float]]], int]:
    """``request_vectors`` waited for: vectors per chunk, and how many chunks needed at least one embedding."""
    vectors, requests = request_vectors(embedders, chunks, stored)
    return vectors, fill_vectors(vectors, requests)
