"""The ``askdocs`` command: index, serve, search, ask."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from askdocs.models import PUBLIC
from askdocs.settings import Settings

app = typer.Typer(help="askdocs: hybrid search and cited answers over your documents.", no_args_is_help=True)
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"ASKDOCS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err.print(f"[red]configuration error:[/red] {problems}")
        raise typer.Exit(2) from None


def _services(settings: Settings):  # type: ignore[no-untyped-def]
    from api.services import Services

    return Services.build(settings)


def _principals(settings: Settings, user: str | None, groups: list[str] | None) -> list[str]:
    from api.deps import spaces_for

    principals = [PUBLIC]
    if user:
        principals.append(f"user:{user.lower()}")
    principals.extend(f"group:{g}" for g in groups or [])
    return principals + spaces_for(principals, settings.space_access)


@app.command()
def index(
    source: Annotated[str, typer.Option(help="Source to sync: files, slack, confluence, google-docs.")] = "files",
    path: Annotated[
        Path | None, typer.Option(help="Folder for the files source (default ASKDOCS_WORKSPACE_DIR).")
    ] = None,
    full: Annotated[bool, typer.Option(help="Re-read everything and prune what the source no longer has.")] = False,
    optimize: Annotated[bool, typer.Option(help="Build HNSW graphs after writing (large indexes).")] = False,
) -> None:
    """Sync one source into the index: only changed documents are re-embedded."""
    from connectors.files import FilesConnector
    from connectors.registry import build_connector
    from ingest.runner import run_source
    from ingest.state import CheckpointStore

    settings = _settings()
    if path is not None and source != "files":
        err.print("[red]error:[/red] --path applies to the files source only")
        raise typer.Exit(2)
    folder = path or settings.workspace_dir
    if source == "files" and not folder.is_dir():
        err.print(f"[red]error:[/red] folder not found: {folder}")
        raise typer.Exit(2)
    try:
        connector = FilesConnector(folder) if source == "files" else build_connector(source, settings)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    services = _services(settings)
    try:
        indexer = services.indexer()
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task(f"syncing {source}", total=None)

            def progress(docs: int, chunks: int) -> None:
                bar.update(task, description=f"syncing {source}: {docs} documents, {chunks} chunks written")

            store = CheckpointStore(settings.data_dir / "state")
            report = run_source(indexer, connector, store, full=full, progress=progress)
        if optimize:
            services.index.optimize()
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    for failure in report.failures:
        err.print(f"[yellow]{'fatal' if failure.fatal else 'skipped'}:[/yellow] {failure.message}")
    typer.echo(report.summary())
    if report.status == "failed":
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default ASKDOCS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ASKDOCS_PORT).")] = None,
) -> None:
    """Serve the REST API and the search box."""
    import uvicorn

    from api.app import create_app

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@app.command()
def search(
    query: str,
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    user: Annotated[str | None, typer.Option(help="Search as this user (email).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Search with this group (repeatable).")] = None,
) -> None:
    """Print the best documents for QUERY."""
    settings = _settings()
    services = _services(settings)
    try:
        hits = services.retriever.search(query, _principals(settings, user, group), top_k=top_k)
    finally:
        services.close()
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, 1):
        typer.echo(f"{rank}. {hit.title}  ({hit.doc_id}, score {hit.score:.4f})")
        typer.echo("   " + " ".join(hit.text.split())[:240])


@app.command()
def ask(
    question: str,
    user: Annotated[str | None, typer.Option(help="Ask as this user (email).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Ask with this group (repeatable).")] = None,
) -> None:
    """Answer QUESTION from the indexed documents, with numbered citations."""
    settings = _settings()
    services = _services(settings)
    try:
        answer = services.ask(question, _principals(settings, user, group))
    finally:
        services.close()
    typer.echo(answer.text)
    for n, citation in {c.n: c for c in answer.citations}.items():
        typer.echo(f"  [{n}] {citation.title} — {citation.url}")


def main() -> None:
    """Entry point for ``python -m api.cli``."""
    app()


if __name__ == "__main__":
    main()
