"""Offline answers: the sentences that best cover the question's terms, each cited as [n]."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from askdocs.models import Answer, Citation, Hit, Passage
from askdocs.retrieval.analyzer import Analyzer, detect_language
from askdocs.retrieval.answer.base import refusal

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`-])|(?<=[。！？])|\n+")
_EMPHASIS = re.compile(r"\*\*|__|`")
_MARKUP = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|#+\s+|\|)\s*")


@dataclass
class _Candidate:
    score: float
    hit_rank: int
    position: int
    sentence: str
    span: str
    chunk_id: str


def split_sentences(text: str) -> list[tuple[str, str]]:
    """(clean sentence, verbatim source span) pairs in order; a sentence ending in ':' takes the next one.

    The clean form drops list bullets, heading marks and code fences; the span is an exact substring of
    ``text``, so a citation can quote its source verbatim.
    """
    pieces: list[tuple[int, int, str]] = []
    cursor = 0
    for boundary in [*_SENTENCE_END.finditer(text), None]:
        stop = boundary.start() if boundary else len(text)
        raw = text[cursor:stop]
        clean = _MARKUP.sub("", raw).strip()
        if clean and not clean.startswith(("```", "~~~")):
            lead = len(raw) - len(raw.lstrip())
            pieces.append((cursor + lead, cursor + len(raw.rstrip()), clean))
        cursor = boundary.end() if boundary else len(text)
    merged: list[tuple[int, int, str]] = []
    for begin, finish, clean in pieces:
        if merged and merged[-1][2].endswith((":", "：")):
            merged[-1] = (merged[-1][0], finish, f"{merged[-1][2]} {clean}")
        else:
            merged.append((begin, finish, clean))
    return [(" ".join(_EMPHASIS.sub("", clean).split()), text[a:b]) for a, b, clean in merged if len(clean) >= 6]


class ExtractiveAnswerer:
    """Picks up to ``max_sentences`` sentences whose terms cover the question; refuses below ``min_support``."""

    name = "extractive"

    def __init__(self, analyzer: Analyzer, max_sentences: int = 3, min_support: float = 0.34) -> None:
        self.analyzer = analyzer
        self.max_sentences = max_sentences
        self.min_support = min_support

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """Cite the best-supported sentences of ``hits``; ``found=False`` when none covers enough of the question."""
        language = detect_language(question)
        wanted = self.analyzer.match_terms(question, language)
        candidates = self._candidates(wanted, hits) if wanted else []
        if not candidates or candidates[0].score < self.min_support:
            return refusal(question, hits, self.name)
        floor = max(self.min_support, 0.6 * candidates[0].score)
        chosen = [c for c in candidates if c.score >= floor][: self.max_sentences]
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        for cand in chosen:
            if cand.hit_rank not in numbers:
                numbers[cand.hit_rank] = len(numbers) + 1
            n = numbers[cand.hit_rank]
            hit = hits[cand.hit_rank]
            url, location = hit.place_of(cand.chunk_id)
            citations.append(
                Citation(
                    n=n,
                    doc_id=hit.doc_id,
                    chunk_id=cand.chunk_id,
                    title=hit.title,
                    url=url,
                    snippet=cand.span,
                    location=location,
                )
            )
            parts.append(f"{cand.sentence} [{n}]")
        joiner = "" if language == "ja" else " "
        return Answer(
            question=question, text=joiner.join(parts), citations=citations, found=True, generator=self.name, hits=hits
        )

    def _candidates(self, wanted: set[str], hits: list[Hit]) -> list[_Candidate]:
        """Score each sentence by the IDF-weighted share of question terms it holds (title/heading: half)."""
        rows: list[tuple[int, int, str, str, str, set[str], set[str]]] = []
        seen: set[str] = set()
        for rank, hit in enumerate(hits):
            context = self.analyzer.match_terms(f"{hit.title} {hit.heading}", hit.language)  # type: ignore[arg-type]
            passages = hit.passages or [Passage(chunk_id=hit.chunk_id, chunk_no=hit.chunk_nos[0], text=hit.text)]
            sentences = [(p.chunk_id, pair) for p in passages for pair in split_sentences(p.text)]
            for position, (chunk_id, (sentence, span)) in enumerate(sentences):
                if sentence not in seen:
                    seen.add(sentence)
                    terms = self.analyzer.match_terms(sentence, hit.language)  # type: ignore[arg-type]
                    rows.append((rank, position, chunk_id, sentence, span, terms, context))
        if not rows:
            return []
        weight = {t: 1.0 + math.log(1 + len(rows) / (1 + sum(t in r[5] for r in rows))) for t in wanted}
        total = sum(weight.values())
        found: list[_Candidate] = []
        for rank, position, chunk_id, sentence, span, terms, context in rows:
            direct = wanted & terms
            if not direct:
                continue
            covered = sum(weight[t] for t in direct) + 0.5 * sum(weight[t] for t in (wanted & context) - direct)
            found.append(_Candidate(covered / total * (1 - 0.04 * rank), rank, position, sentence, span, chunk_id))
        found.sort(key=lambda c: (-c.score, c.hit_rank, c.position))
        return found
