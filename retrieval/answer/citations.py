"""After generation: parse [n] markers, drop invalid ones, check each sentence against what it cites."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from askdocs.models import Citation, Hit, Passage, SentenceCheck, SupportStatus
from askdocs.retrieval.analyzer import Analyzer, Language, detect_language
from askdocs.retrieval.answer.base import NOT_FOUND
from askdocs.retrieval.answer.extractive import split_sentences
from askdocs.retrieval.embedders import LanguageEmbedders

_NUMBERS = r"\d{1,4}(?:\s*[,，、]\s*\d{1,4})*"
MARKER = re.compile(rf"\[\s*({_NUMBERS})\s*\]")
_BOUNDARY = re.compile(
    rf"(?:[.!?](?=[\s\[\"')*]|$)|[。！？]|\n)(?:[ \t]*\[\s*{_NUMBERS}\s*\])*"  # full stop, then its markers
    rf"|(?:\[\s*{_NUMBERS}\s*\])+(?=[ \t]+[^\s\[.,;:!?。、])"  # markers followed by more words end a sentence
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?。、，！？])")
_REFUSALS = tuple(" ".join(t.rstrip(".。").lower().split()) for t in NOT_FOUND.values())


def marker_numbers(marker_body: str) -> list[int]:
    """The numbers inside one ``[..]`` marker body, e.g. ``'1, 2'`` -> ``[1, 2]``."""
    return [int(x) for x in re.split(r"[\s,，、]+", marker_body) if x]


def drop_invalid_markers(text: str, valid: set[int]) -> tuple[str, list[int]]:
    """``text`` with markers naming no given source removed; also the removed numbers (in order, deduplicated)."""
    removed: list[int] = []

    def fix(match: re.Match[str]) -> str:
        numbers = marker_numbers(match.group(1))
        kept = [n for n in numbers if n in valid]
        removed.extend(n for n in numbers if n not in valid and n not in removed)
        if kept == numbers:
            return match.group(0)
        return "".join(f"[{n}]" for n in kept)

    fixed = MARKER.sub(fix, text)
    fixed = re.sub(r"[ \t]{2,}", " ", fixed)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", fixed).strip() if removed else fixed.strip(), removed


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, cited numbers) per sentence; markers after the full stop belong to its sentence."""
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    pieces.append(text[start:])
    out: list[tuple[str, list[int]]] = []
    for piece in pieces:
        cites: list[int] = []
        for match in MARKER.finditer(piece):
            cites.extend(n for n in marker_numbers(match.group(1)) if n not in cites)
        clean = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(MARKER.sub(" ", piece).split()))
        clean = re.sub(r"^(?:[-*+]|\d+[.)])\s+|^#+\s*", "", clean).replace("**", "").strip()
        if any(ch.isalnum() for ch in clean):
            out.append((clean, cites))
    return out


def is_refusal(text: str) -> bool:
    """True when the text says the documents do not contain the answer (either language)."""
    flat = " ".join(unicodedata.normalize("NFKC", MARKER.sub(" ", text)).lower().split())
    return any(r in flat for r in _REFUSALS)


@dataclass
class CheckResult:
    """A checked answer text."""

    text: str
    sentences: list[SentenceCheck]
    removed: list[int]
    groundedness: float | None = field(default=None)


class CitationChecker:
    """Checks cited sentences by lexical support (analyzer terms), optionally also by embedding similarity."""

    def __init__(
        self,
        analyzer: Analyzer,
        min_support: float = 0.5,
        embedders: LanguageEmbedders | None = None,
        min_cosine: float | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.min_support = min_support
        self.embedders = embedders if min_cosine is not None else None
        self.min_cosine = min_cosine

    def check(self, text: str, sources: dict[int, str]) -> CheckResult:
        """Drop markers for unknown sources, then flag every sentence ``supported``/``unsupported``/``uncited``."""
        fixed, removed = drop_invalid_markers(text, set(sources))
        terms_cache: dict[tuple[int, str], set[str]] = {}
        checks: list[SentenceCheck] = []
        for sentence, cites in split_answer(fixed):
            language = detect_language(sentence)
            wanted = self.analyzer.match_terms(sentence, language)
            lexical = 0.0
            cosine: float | None = None
            for n in cites:
                key = (n, language)
                if key not in terms_cache:
                    terms_cache[key] = self.analyzer.match_terms(sources[n], language)
                lexical = max(lexical, len(wanted & terms_cache[key]) / len(wanted) if wanted else 1.0)
            if cites and lexical < self.min_support and self.embedders is not None:
                cosine = max(self._cosine(sentence, sources[n], language) for n in cites)
            by_embedding = cosine is not None and self.min_cosine is not None and cosine >= self.min_cosine
            best = max(lexical, cosine or 0.0) if by_embedding else lexical
            status: SupportStatus
            if not cites:
                status = "uncited"
            elif lexical >= self.min_support or by_embedding:
                status = "supported"
            else:
                status = "unsupported"
            checks.append(SentenceCheck(text=sentence, cites=cites, status=status, support=round(min(best, 1.0), 4)))
        grounded = sum(c.status == "supported" for c in checks) / len(checks) if checks else None
        return CheckResult(fixed, checks, removed, None if grounded is None else round(grounded, 4))

    def _cosine(self, sentence: str, source: str, language: Language) -> float:
        assert self.embedders is not None
        embedder = self.embedders.for_language(language)
        parts = [clean for clean, _ in split_sentences(source)] or [source]
        matrix = embedder.embed_documents(parts[:64])
        query = embedder.embed_query(sentence)
        return float(np.max(matrix @ query)) if len(matrix) else 0.0


def build_citations(result: CheckResult, hits: dict[int, Hit], analyzer: Analyzer) -> list[Citation]:
    """One citation per cited source, in order of first use; the snippet is its sentence closest to what cites it."""
    order: list[int] = []
    claims: dict[int, set[str]] = {}
    for check in result.sentences:
        for n in check.cites:
            if n not in order:
                order.append(n)
            claims.setdefault(n, set()).update(analyzer.match_terms(check.text, detect_language(check.text)))
    citations: list[Citation] = []
    for n in order:
        hit = hits[n]
        passages = hit.passages or [Passage(chunk_id=hit.chunk_id, chunk_no=hit.chunk_nos[0], text=hit.text)]
        language: Language = "ja" if hit.language == "ja" else "en"
        best: tuple[float, str, str] | None = None
        for passage in passages:
            for clean, span in split_sentences(passage.text):
                terms = analyzer.match_terms(clean, language)
                score = len(terms & claims[n]) / (len(claims[n]) or 1)
                if best is None or score > best[0]:
                    best = (score, passage.chunk_id, span)
        chunk_id, snippet = (best[1], best[2]) if best else (passages[0].chunk_id, passages[0].text[:300])
        url, location = hit.place_of(chunk_id)
        citations.append(
            Citation(
                n=n, doc_id=hit.doc_id, chunk_id=chunk_id, title=hit.title, url=url, snippet=snippet, location=location
            )
        )
    return citations
