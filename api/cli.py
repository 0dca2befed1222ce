"""The ``askdocs`` command: index, serve, search, ask."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from askdocs.models import PUBLIC, SearchFilters
from askdocs.settings import Settings

app = typer.Typer(help="askdocs: hybrid search and cited answers over your documents.", no_args_is_help=True)
err = Console(stderr=True)


class Language(StrEnum):
    """The ``--language`` choices of ``askdocs search``."""

    en = "en"
    ja = "ja"
    both = "both"


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


@contextmanager
def _progress_bar(name: str) -> Iterator[Callable[[int, int], None]]:
    """A spinner on stderr; yields the progress callback a sync run calls with (documents, chunks written)."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task(f"syncing {name}", total=None)

        def progress(docs: int, chunks: int) -> None:
            bar.update(task, description=f"syncing {name}: {docs} documents, {chunks} chunks written")

        yield progress


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
        with _progress_bar(source) as progress:
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
    from api.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_format)
    _check_sources(settings)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port, log_config=None)


@app.command()
def search(
    query: str,
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    user: Annotated[str | None, typer.Option(help="Search as this user (email).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Search with this group (repeatable).")] = None,
    language: Annotated[
        Language, typer.Option(help="Only documents in this language: en, ja, or both (default).")
    ] = Language.both,
) -> None:
    """Print the best documents for QUERY."""
    settings = _settings()
    services = _services(settings)
    filters = SearchFilters(language=language.value)
    try:
        hits = services.retriever.search(query, _principals(settings, user, group), filters, top_k=top_k)
    finally:
        services.close()
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, 1):
        typer.echo(f"{rank}. {hit.title}  ({hit.doc_id}, {hit.language}, score {hit.score:.4f})")
        typer.echo("   " + " ".join(hit.text.split())[:240])


@app.command()
def ask(
    question: str,
    user: Annotated[str | None, typer.Option(help="Ask as this user (email).")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Ask with this group (repeatable).")] = None,
) -> None:
    """Answer QUESTION from the indexed documents, with numbered citations."""
    from retrieval.answer import LLMError

    settings = _settings()
    services = _services(settings)
    try:
        answer = services.ask(question, _principals(settings, user, group))
    except LLMError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        services.close()
    typer.echo(answer.text)
    for n, citation in {c.n: c for c in answer.citations}.items():
        typer.echo(f"  [{n}] {citation.title} — {citation.url}")


def _check_sources(settings: Settings) -> None:
    """Fail early, with the bad key named, when the sources file is invalid."""
    from ingest.sources import SourcesConfigError, load_sources

    if settings.sources_file.exists():
        try:
            load_sources(settings.sources_file)
        except SourcesConfigError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None


@app.command()
def sync(
    source: Annotated[str | None, typer.Option(help="Only this configured source (default: all enabled).")] = None,
    full: Annotated[bool, typer.Option(help="Re-read everything and prune what the source no longer has.")] = False,
) -> None:
    """Sync the sources of ASKDOCS_SOURCES_FILE once, now (incremental unless --full)."""
    from ingest.runner import source_runner
    from ingest.scheduler import record_run, utcnow
    from ingest.sources import SourcesConfigError
    from ingest.state import CheckpointStore

    settings = _settings()
    _check_sources(settings)
    services = _services(settings)
    failed = False
    try:
        try:
            configured = services.sources()
            chosen = [configured.get(source)] if source else [s for s in configured.sources if s.enabled]
        except KeyError:
            names = ", ".join(s.name for s in configured.sources)
            err.print(f"[red]error:[/red] no source named {source!r} in {settings.sources_file} (have: {names})")
            raise typer.Exit(2) from None
        except SourcesConfigError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        store = CheckpointStore(settings.data_dir / "state")
        run = source_runner(services.indexer(), store, settings)
        for config in chosen:
            with _progress_bar(config.name) as progress:
                started = utcnow()
                report = run(config, full, progress)  # type: ignore[call-arg]
            record_run(store.folder / "status.json", config, "full" if full else "incremental", report, started)
            for failure in report.failures:
                err.print(f"[yellow]{'fatal' if failure.fatal else 'skipped'}:[/yellow] {failure.message}")
            typer.echo(report.summary() if report.source == config.name else f"{config.name}: {report.summary()}")
            failed = failed or report.status == "failed"
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    if failed:
        raise typer.Exit(1)


@app.command()
def sources() -> None:
    """Show every configured source: schedule, last run, outcome, counts, failures."""
    from ingest.scheduler import read_statuses
    from ingest.sources import SourcesConfigError, default_sources, load_sources

    settings = _settings()
    try:
        path = settings.sources_file
        configured = load_sources(path) if path.exists() else default_sources(settings)
    except SourcesConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    statuses = read_statuses(settings.data_dir / "state" / "status.json")
    table = Table("source", "type", "schedule", "last run", "status", "added", "updated", "deleted", "failures")
    for config in configured.sources:
        schedule = config.schedule.every or config.schedule.cron or ""
        status = statuses.get(config.name)
        if status is None:
            table.add_row(
                config.name, config.type, schedule, "never", "—" if config.enabled else "disabled", "", "", "", ""
            )
            continue
        finished = status.last_finished.strftime("%Y-%m-%d %H:%M:%S") if status.last_finished else "—"
        table.add_row(
            config.name, config.type, schedule, finished, status.status, str(status.added), str(status.updated),
            str(status.deleted), "; ".join(status.failures)[:80],
        )  # fmt: skip
    Console().print(table)


@app.command()
def scheduler() -> None:
    """Run the sync scheduler as its own process (Qdrant server mode); stop with Ctrl-C or SIGTERM."""
    import signal
    import threading

    from api.logs import configure_logging

    settings = _settings()
    if not settings.qdrant_url:
        err.print(
            "[red]error:[/red] with the embedded index the scheduler runs inside `askdocs serve` (one process may "
            "hold the index); set ASKDOCS_QDRANT_URL to run it on its own"
        )
        raise typer.Exit(2)
    configure_logging(settings.log_format)
    _check_sources(settings)
    services = _services(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        services.warm_up()
        services.start_scheduler()
        stop.wait()
    finally:
        services.close()


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def eval_(ctx: typer.Context) -> None:
    """Evaluate retrieval (and answers) on a BEIR dataset; options: askdocs eval --help (see eval/runner.py)."""
    from eval.runner import main as run_eval

    run_eval(list(ctx.args))


def main() -> None:
    """Entry point for ``python -m api.cli``."""
    app()


if __name__ == "__main__":
    main()
