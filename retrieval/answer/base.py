"""The seam every answer generator plugs into (extractive now, LLM generators later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from askdocs.models import Answer, Hit
from retrieval.analyzer import detect_language

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


@runtime_checkable
class AnswerGenerator(Protocol):
    """Writes an answer to ``question`` from ``hits`` only, citing them as [n]."""

    name: str

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """A grounded answer, or ``found=False`` with a refusal when the hits do not support one."""


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
