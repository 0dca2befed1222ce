"""Offline answers: the sentences that best cover the question's terms, each cited as [n]."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from askdocs.models import Answer, Citation, Hit, Passage
from retrieval.analyzer import Analyzer, detect_language
from retrieval.answer.base import not_found_text

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`-])|(?<=[。！？])|\n+")
_MARKUP = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|#+\s+|\|)\s*")


@dataclass
class _Candidate:
    score: float
    hit_rank: int
    position: int
    sentence: str
    chunk_id: str


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of ``text``, trimmed, in order; a sentence ending in ':' keeps the next one."""
    out: list[str] = []
    for part in (_MARKUP.sub("", p).strip() for p in _SENTENCE_END.split(text)):
        if not part or part.startswith(("```", "~~~")):
            continue
        if out and out[-1].endswith((":", "：")):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return [p for p in out if len(p) >= 6]


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
            return Answer(question=question, text=not_found_text(question), citations=[], found=False,
                          generator=self.name, hits=hits)
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
            citations.append(Citation(n=n, doc_id=hit.doc_id, chunk_id=cand.chunk_id, title=hit.title, url=hit.url,
                                      snippet=cand.sentence))
            parts.append(f"{cand.sentence} [{n}]")
        joiner = "" if language == "ja" else " "
        return Answer(question=question, text=joiner.join(parts), citations=citations, found=True,
                      generator=self.name, hits=hits)

    def _candidates(self, wanted: set[str], hits: list[Hit]) -> list[_Candidate]:
        """Score each sentence by the IDF-weighted share of question terms it holds (title/heading: half)."""
        rows: list[tuple[int, int, str, str, set[str], set[str]]] = []
        seen: set[str] = set()
        for rank, hit in enumerate(hits):
            context = self.analyzer.match_terms(f"{hit.title} {hit.heading}", hit.language)  # type: ignore[arg-type]
            passages = hit.passages or [Passage(chunk_id=hit.chunk_id, chunk_no=hit.chunk_nos[0], text=hit.text)]
            sentences = [(p.chunk_id, s) for p in passages for s in split_sentences(p.text)]
            for position, (chunk_id, sentence) in enumerate(sentences):
                if sentence not in seen:
                    seen.add(sentence)
                    terms = self.analyzer.match_terms(sentence, hit.language)  # type: ignore[arg-type]
                    rows.append((rank, position, chunk_id, sentence, terms, context))
        if not rows:
            return []
        weight = {t: 1.0 + math.log(1 + len(rows) / (1 + sum(t in r[4] for r in rows))) for t in wanted}
        total = sum(weight.values())
        found: list[_Candidate] = []
        for rank, position, chunk_id, sentence, terms, context in rows:
            direct = wanted & terms
            if not direct:
                continue
            covered = sum(weight[t] for t in direct) + 0.5 * sum(weight[t] for t in (wanted & context) - direct)
            found.append(_Candidate(covered / total * (1 - 0.04 * rank), rank, position, sentence, chunk_id))
        found.sort(key=lambda c: (-c.score, c.hit_rank, c.position))
        return found
