"""Answer generators: turn the top hits into a short answer that cites them."""

from retrieval.answer.base import (
    AnswerGenerator,
    Draft,
    DraftEvent,
    Final,
    LLMError,
    StreamEvent,
    Token,
    not_found_text,
)
from retrieval.answer.extractive import ExtractiveAnswerer

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
