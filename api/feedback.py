"""Thumbs up/down on answers and hits, kept in SQLite (``data_dir/feedback.sqlite3``), exported as BEIR qrels."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from askdocs.api.schemas import NonBlankText

Rating = Literal["up", "down"]
_SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, user TEXT NOT NULL, query TEXT NOT NULL,
    doc_id TEXT, rating TEXT NOT NULL, comment TEXT NOT NULL DEFAULT '')"""


class Feedback(BaseModel):
    """One judgement: on the answer (no ``doc_id``) or on one hit."""

    model_config = {"extra": "forbid"}

    query: NonBlankText = Field(min_length=1, max_length=2000)
    rating: Rating
    doc_id: str | None = Field(
        default=None, min_length=1, max_length=1000, description="The hit judged; none: the answer."
    )
    comment: str = Field(default="", max_length=2000)


class StoredFeedback(Feedback):
    """A judgement as stored."""

    id: int
    at: float
    user: str


class FeedbackStore:
    """The feedback table; one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as db:
            db.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path)
            self._local.db = db
        return db

    def add(self, user: str, item: Feedback) -> int:
        """Store ``item`` from ``user``; returns its id."""
        with self._connection() as db:
            cursor = db.execute(
                "INSERT INTO feedback (at, user, query, doc_id, rating, comment) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), user, item.query, item.doc_id, item.rating, item.comment.strip()),
            )
        return int(cursor.lastrowid or 0)

    def all(self) -> list[StoredFeedback]:
        """Every judgement, oldest first."""
        rows = (
            self._connection()
            .execute("SELECT id, at, user, query, doc_id, rating, comment FROM feedback ORDER BY id")
            .fetchall()
        )
        keys = ("id", "at", "user", "query", "doc_id", "rating", "comment")
        return [StoredFeedback.model_validate(dict(zip(keys, row, strict=True))) for row in rows]


def query_id(query: str) -> str:
    """A stable id for a query's text (the same question from several people is one query)."""
    return "fb-" + hashlib.blake2b(query.strip().encode("utf-8"), digest_size=6).hexdigest()


def write_corpus(documents: Iterable[tuple[str, str, str]], folder: Path) -> int:
    """Write ``corpus.jsonl`` (BEIR) from (id, title, text) rows; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, title, text in documents:
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}, ensure_ascii=False) + "\n")
            written += 1
    return written


def export_qrels(items: list[StoredFeedback], folder: Path) -> tuple[int, int]:
    """Write ``queries.jsonl`` and ``qrels/test.tsv`` (BEIR) from the hit judgements: the latest judgement of
    each (query, document) counts, up = 1, down = 0. Answer-level feedback has no document and is left out.
    Returns (queries, judgements)."""
    latest: dict[tuple[str, str], int] = {}
    queries: dict[str, str] = {}
    for item in items:
        if item.doc_id is None:
            continue
        qid = query_id(item.query)
        queries[qid] = item.query
        latest[(qid, item.doc_id)] = 1 if item.rating == "up" else 0
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as out:
        for qid, text in queries.items():
            out.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for (qid, doc_id), score in latest.items():
            out.write(f"{qid}\t{doc_id}\t{score}\n")
    return len(queries), len(latest)
