"""The seam every answer generator plugs into (extractive now, LLM generators later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from askdocs.models import Answer, Hit, LLMUsage
from askdocs.retrieval.analyzer import detect_language

NOT_FOUND = {
    "en": "I could not find this in the indexed documents.",
    "ja": "インデックスされた文書の中に、この質問への答えは見つかりませんでした。",
}


def not_found_text(question: str) -> str:
    """The refusal, in the question's language."""
    return NOT_FOUND.get(detect_language(question), NOT_FOUND["en"])


def refusal(question: str, hits: list[Hit], generator: str, **extra: Any) -> Answer:
    """The answer that says the indexed documents do not contain one."""
    return Answer(
        question=question, text=not_found_text(question), citations=[], found=False, generator=generator, hits=hits,
        **extra,
    )  # fmt: skip


@dataclass
class Draft:
    """Generated text with [n] markers and the numbered sources it was written from, not yet checked.

    ``AskPipeline`` checks it against ``sources`` (unknown markers dropped, every sentence checked, citations
    built from ``source_hits``), or turns it into a refusal.
    """

    question: str
    text: str
    sources: dict[int, str]  # n -> the text the generator was given as source n
    source_hits: dict[int, Hit]  # n -> the hit that text came from
    hits: list[Hit]
    generator: str
    model: str | None = None
    usage: LLMUsage | None = None


@runtime_checkable
class AnswerGenerator(Protocol):
    """Writes an answer to ``question`` from ``hits`` only, citing them as [n]."""

    name: str

    def answer(self, question: str, hits: list[Hit]) -> Answer | Draft:
        """A grounded answer or a draft for ``AskPipeline`` to check, or ``found=False`` with a refusal when the
        hits do not support one."""


class LLMError(Exception):
    """The LLM could not answer; ``status`` is what the API returns (502 or 503), ``message`` is safe to show."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class Token:
    """A piece of answer text as the generator streams it."""

    text: str


@dataclass
class Final:
    """The checked answer after the stream ended."""

    answer: Answer


StreamEvent = Token | Final
DraftEvent = Token | Final | Draft  # what a generator's own stream yields: tokens, then its answer or draft
