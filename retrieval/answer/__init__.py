"""Answer generators: turn the top hits into a short answer that cites them."""

from retrieval.answer.base import AnswerGenerator, not_found_text
from retrieval.answer.extractive import ExtractiveAnswerer

__all__ = ["AnswerGenerator", "ExtractiveAnswerer", "not_found_text"]
