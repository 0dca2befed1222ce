"""A spy on the real embedders: records every batch they embed, and delegates (no mock)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from askdocs.retrieval.embedders import Embedder, LanguageEmbedders


class CountingEmbedder:
    """A real embedder that records every batch it embeds (a spy, not a mock: it delegates)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.batches: list[list[str]] = []

    def warm_up(self) -> None:
        self.inner.warm_up()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


@dataclass
class Spy:
    embedders: LanguageEmbedders
    spies: list[CountingEmbedder] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(len(s.batches) for s in self.spies)

    @property
    def texts(self) -> list[str]:
        return [t for s in self.spies for batch in s.batches for t in batch]


def spy_on(embedders: LanguageEmbedders) -> Spy:
    spies = {name: CountingEmbedder(e) for name, e in ((e.name, e) for e in embedders.by_language.values())}
    wrapped = LanguageEmbedders({lang: spies[e.name] for lang, e in embedders.by_language.items()})
    return Spy(wrapped, list(spies.values()))
