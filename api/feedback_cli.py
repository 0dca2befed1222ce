"""``askdocs feedback export``: the judged queries from the search page as a BEIR dataset's qrels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from askdocs.api.feedback import FeedbackStore, export_qrels, write_corpus
from askdocs.retrieval.index import Index

feedback_app = typer.Typer(help="Feedback given on the search page (admins).", no_args_is_help=True)
err = Console(stderr=True)


@feedback_app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Folder for queries.jsonl, qrels/test.tsv and corpus.jsonl (BEIR).")],
    corpus: Annotated[bool, typer.Option(help="Also write every indexed document as corpus.jsonl.")] = True,
) -> None:
    """Write the hit judgements (up = 1, down = 0, latest per query and document) in the BEIR qrels format,
    with the indexed documents as the corpus, so `askdocs eval --dataset <out>` scores them."""
    from askdocs.api.cli_common import load_settings

    settings = load_settings()
    path = settings.data_dir / "feedback.sqlite3"
    if not path.exists():
        err.print(f"[red]error:[/red] no feedback yet (nothing stored under {path.parent.name}/)")
        raise typer.Exit(2)
    if out.exists() and not out.is_dir():
        err.print(f"[red]error:[/red] --out must be a folder: {out} is a file")
        raise typer.Exit(2)
    queries, judgements = export_qrels(FeedbackStore(path).all(), out)
    err.print(f"{judgements} judgements of {queries} queries written to {out}/qrels/test.tsv and queries.jsonl")
    if corpus:
        index = Index.open(settings)
        try:
            err.print(f"{write_corpus(index.documents(), out)} documents written to {out}/corpus.jsonl")
        finally:
            index.close()
