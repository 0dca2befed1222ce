"""Answer generators: turn the top hits into a short answer that cites them."""

from askdocs.retrieval.answer.base import (
    AnswerGenerator,
    Draft,
    DraftEvent,
    Final,
    LLMError,
    StreamEvent,
    Token,
    not_found_text,
)
from askdocs.retrieval.answer.extractive import ExtractiveAnswerer

__all__ = [
    "AnswerGenerator",
    "Draft",
    "DraftEvent",
    "ExtractiveAnswerer",
    "Final",
    "LLMError",
    "StreamEvent",
    "Token",
    "not_found_text",
]
