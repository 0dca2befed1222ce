"""Structure-aware, token-bounded chunking.

Sections (heading trails) come from the connector's parse; inside a section, LangChain's
``RecursiveCharacterTextSplitter`` cuts at paragraph, line and sentence ends (Japanese ``。`` too),
measuring length in the embedder's own tokens so no chunk overflows its window. Small neighbouring
sections are merged so that a heading with two lines does not become a chunk of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from langchain_text_splitters import RecursiveCharacterTextSplitter

from askdocs.models import Chunk, Document, Location
from askdocs.retrieval.analyzer import Language, detect_language
from askdocs.retrieval.embedders import Embedder

# No "" (per-character) separator: LangChain would measure every character with the embedder's special
# tokens and emit ~20-character fragments; a run without separators is cut by ``_hard_split`` instead.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "; ", "、", ", ", " "]


@dataclass
class _Piece:
    heading: str
    text: str
    tokens: int
    section: int = 0
    location: Location | None = None


class Chunker:
    """Splits documents into chunks that fit ``chunk_tokens`` of the embedder chosen per language."""

    def __init__(
        self,
        embedder_for: Callable[[Language], Embedder],
        chunk_tokens: int = 200,
        overlap_tokens: int = 30,
    ) -> None:
        self.embedder_for = embedder_for
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens

    def chunk(self, doc: Document) -> list[Chunk]:
        """The chunks of ``doc`` in reading order, numbered from 0."""
        language = detect_language(f"{doc.title}\n{doc.text}")
        embedder = self.embedder_for(language)
        count = lru_cache(maxsize=1024)(embedder.count_tokens)  # the splitter and merge re-measure the same texts
        limit = min(self.chunk_tokens, embedder.max_tokens)
        pieces: list[_Piece] = []
        for number, section in enumerate(doc.sections):
            heading = " > ".join(section.path)
            context = f"{section.context}\n" if section.context else ""
            budget = max(16, limit - count(f"{doc.title} > {heading}\n{context}"))
            for text in self._split(section.text, budget, count):
                pieces.append(_Piece(heading, context + text, count(context + text), number, section.location))
        merged = self._merge(pieces, max(16, limit - count(f"{doc.title}\n")), count)
        return [
            Chunk(
                doc_id=doc.id,
                chunk_no=i,
                text=p.text,
                heading=p.heading,
                language=language,
                source=doc.source,
                title=doc.title,
                url=doc.url,
                author=doc.author,
                updated_at=doc.updated_at,
                acl=doc.acl,
                content_hash=doc.content_hash,
                embedding_hash=doc.embedding_hash,
                metadata=doc.metadata,
                location=p.location,
            )
            for i, p in enumerate(merged)
        ]

    def _split(self, text: str, budget: int, count: Callable[[str], int]) -> list[str]:
        text = text.strip()
        if not text:
            return []
        if count(text) <= budget:
            return [text]
        splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            keep_separator="end",
            chunk_size=budget,
            chunk_overlap=min(self.overlap_tokens, budget // 4),
            length_function=count,
            strip_whitespace=True,
        )
        out: list[str] = []
        for piece in splitter.split_text(text):
            out.extend(_hard_split(piece, budget, count))
        return out

    @staticmethod
    def _merge(pieces: list[_Piece], budget: int, count: Callable[[str], int]) -> list[_Piece]:
        """Join neighbours while the result stays within 3/4 of the budget (headings kept as lines).

        Only pieces of different sections are joined: parts of one split section overlap, so joining
        them would repeat text. Pieces of different places (pages, slides, sheet rows) are never joined, so
        every chunk cites one place.
        """
        merged: list[_Piece] = []
        for piece in pieces:
            joinable = bool(merged) and piece.section != merged[-1].section and piece.location == merged[-1].location
            if joinable and merged[-1].tokens + piece.tokens <= budget * 3 // 4:
                last = merged[-1]
                joiner = "\n\n" if piece.heading == last.heading else f"\n\n{piece.heading.split(' > ')[-1]}\n"
                text = last.text + joiner + piece.text
                tokens = count(f"{last.heading}\n{text}")
                if tokens <= budget:
                    merged[-1] = _Piece(last.heading, text, tokens, piece.section, last.location)
                    continue
            merged.append(piece)
        return merged


def _hard_split(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Last resort for a run with no separator at all: cut by characters until each part fits."""
    if count(text) <= budget:
        return [text]
    middle = len(text) // 2
    return _hard_split(text[:middle], budget, count) + _hard_split(text[middle:], budget, count)
