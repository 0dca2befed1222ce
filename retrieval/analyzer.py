"""BM25 text analysis: English (stopwords + Snowball stemming) and Japanese (SudachiPy), by script.

Terms become sparse-vector indices through a stable 32-bit hash, so the same term maps to the
same id in every process, on every machine, in every backend.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from functools import lru_cache
from typing import Literal

import snowballstemmer

Language = Literal["en", "ja"]

_JAPANESE_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# Particles, auxiliaries and symbols carry no topic; pronouns are mostly question words (何, いつ, どこ, 誰) that
# match unrelated 何度も/何らかの. Dropping pronouns: +0.001 nDCG@10 on jsquad-ja-dev BM25 (eval/README.md).
_SKIP_POS = {"助詞", "助動詞", "補助記号", "空白", "記号", "代名詞"}
# Part-of-speech id -> whether its words are dropped; filled as ids are met (one dictionary per process).
_SKIPPED_POS_IDS: dict[int, bool] = {}
# Word as written -> its English term (None: stopword). Stemming is a pure function of the word; the dict is
# shared by threads (single get/set operations) and stops growing at a bound instead of evicting.
_ENGLISH_TERMS: dict[str, str | None] = {}
_ENGLISH_CACHE_SIZE = 1 << 19
# Joins two adjacent Japanese words into one phrase term; cannot occur inside a term (control character).
PHRASE_JOINER = "\x1f"
# Bumped whenever terms() changes for some text: indexes written by another version get their chunks rewritten.
ANALYZER_VERSION = "2"

# The Snowball project's English stopword list, lower-cased; short, well known, stable.
ENGLISH_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can did do does doing down during each few for from further had has have having he
    her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such
    than that the their theirs them themselves then there these they this those through to too under until
    up very was we were what when where which while who whom why will with you your yours yourself
    yourselves""".split()
)


def detect_language(text: str) -> Language:
    """'ja' when the text is mostly Japanese script (or has any kana), else 'en'."""
    sample = text[:2000]
    japanese = len(_JAPANESE_CHARS.findall(sample))
    if japanese == 0:
        return "en"
    if _KANA.search(sample):
        return "ja"
    letters = sum(1 for ch in sample if ch.isalpha())
    return "ja" if japanese >= 0.3 * max(letters, 1) else "en"


@lru_cache(maxsize=1 << 18)
def term_id(term: str) -> int:
    """Stable unsigned 32-bit id of a term (blake2b, not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


class Analyzer:
    """Turns text into BM25 terms; cheap to build, SudachiPy loads on first Japanese text."""

    def __init__(self) -> None:
        self._local = threading.local()  # Snowball stemmers and Sudachi tokenizers keep state: one per thread

    def _sudachi(self):  # type: ignore[no-untyped-def]
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            from sudachipy import SplitMode

            tokenizer = _sudachi_dictionary().tokenizer(SplitMode.C)
            self._local.tokenizer = tokenizer
        return tokenizer

    def _english_term(self, word: str) -> str | None:
        """The stemmed term of one word, or None for a stopword (cached: Snowball is pure Python)."""
        if word in _ENGLISH_TERMS:
            return _ENGLISH_TERMS[word]
        base = word.lower().replace("’", "'")
        if base.endswith("'s"):
            base = base[:-2]
        term: str | None = None
        if base and base not in ENGLISH_STOPWORDS:
            stemmer = getattr(self._local, "stemmer", None)
            if stemmer is None:
                stemmer = self._local.stemmer = snowballstemmer.stemmer("english")
            term = str(stemmer.stemWord(base))
        if len(_ENGLISH_TERMS) < _ENGLISH_CACHE_SIZE:
            _ENGLISH_TERMS[word] = term
        return term

    def _english(self, text: str) -> list[str]:
        terms = map(self._english_term, _WORD.findall(text))
        return [t for t in terms if t]

    def _japanese(self, text: str) -> list[str]:
        """Sudachi words (mode C, normalised), then each pair of adjacent words as one phrase term.

        Phrase terms reward passages that keep the question's word order ("相良油田の起源" over a passage with
        相良油田 and 起源 far apart): +0.006 nDCG@10 on jsquad-ja-dev BM25. They do not help English (scifact-dev
        BM25 drops 0.725 -> 0.667), so only Japanese gets them.
        """
        words = self._japanese_words(text)
        return words + [f"{a}{PHRASE_JOINER}{b}" for a, b in zip(words, words[1:])]

    def _japanese_words(self, text: str) -> list[str]:
        terms: list[str] = []
        # Sudachi rejects inputs over ~49k bytes; analyse long text in slices cut at newlines.
        skipped = _SKIPPED_POS_IDS
        for piece in _slices(text, 12000):
            for m in self._sudachi().tokenize(piece):
                pos_id = m.part_of_speech_id()
                skip = skipped.get(pos_id)
                if skip is None:
                    pos = m.part_of_speech()
                    skip = skipped[pos_id] = pos[0] in _SKIP_POS or pos[1] == "非自立可能"
                if skip:
                    continue
                # Check the surface, not the normalised form: Sudachi normalises some English words
                # to katakana ("Gateway" -> "ゲートウェー"), which would hide them from English queries.
                surface = m.surface()
                if surface.isascii():
                    terms.extend(self._english(surface))
                    continue
                normalized = m.normalized_form()
                if normalized.strip():
                    terms.append(normalized.lower())
        return terms

    def terms(self, text: str, language: Language | None = None) -> list[str]:
        """The analysed terms of ``text`` in order (repeats kept)."""
        text = unicodedata.normalize("NFKC", text)
        lang = language or detect_language(text)
        return self._japanese(text) if lang == "ja" else self._english(text)

    def match_terms(self, text: str, language: Language | None = None) -> set[str]:
        """Terms for overlap checks: analysed words, plus character bigrams for Japanese (robust to segmentation)."""
        text = unicodedata.normalize("NFKC", text)
        lang = language or detect_language(text)
        if lang != "ja":
            return set(self._english(text))
        grams = {
            a + b
            for a, b in zip(text, text[1:])
            if _JAPANESE_CHARS.match(a) and _JAPANESE_CHARS.match(b) and not (_HIRAGANA.match(a) and _HIRAGANA.match(b))
        }
        return grams | set(self._english(text))

    def query_vector(self, text: str, language: Language | None = None) -> tuple[list[int], list[float]]:
        """Query-side weights: 1 per distinct term (the engine multiplies in IDF)."""
        ids = sorted({term_id(t) for t in self.terms(text, language)})
        return ids, [1.0] * len(ids)


def _slices(text: str, size: int) -> list[str]:
    if len(text) <= size:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        cut = text.rfind("\n", start, end)
        if cut <= start or end == len(text):
            cut = end
        out.append(text[start:cut])
        start = cut
    return out


@lru_cache(maxsize=1)
def _sudachi_dictionary():  # type: ignore[no-untyped-def]
    """One loaded SudachiPy dictionary per process; threads each make a cheap tokenizer from it."""
    from sudachipy import Dictionary

    return Dictionary(dict="core")


@lru_cache(maxsize=1)
def default_analyzer() -> Analyzer:
    """A shared analyzer instance."""
    return Analyzer()
