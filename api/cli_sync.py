"""``askdocs`` commands that fill and maintain the index: index, sync, sources, scheduler, reindex."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from askdocs.api.cli_common import build_services, err, fail, load_settings
from askdocs.connectors.registry import CONNECTORS
from askdocs.ingest.sources import SourceConfig, SourcesFile, configured_sources
from askdocs.settings import Settings


@contextmanager
def _progress_bar(name: str, every_s: float) -> Iterator[Callable[[int, int], None]]:
    """The progress callback a sync run calls with (documents, chunks written): a spinner on a terminal, else a
    plain line on stderr at most every ``every_s`` seconds (and once at the start), so logs show the run moving."""
    if err.is_terminal:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task(f"syncing {name}", total=None)
            yield lambda docs, chunks: bar.update(
                task, description=f"syncing {name}: {docs} documents, {chunks} chunks written"
            )
        return
    started = last = time.monotonic()
    typer.echo(f"syncing {name}…", err=True)

    def progress(docs: int, chunks: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            typer.echo(f"syncing {name}: {docs} documents, {chunks} chunks written ({now - started:.0f}s)", err=True)

    yield progress


FULL_HELP = "Re-read everything and prune what the source no longer has."


def index(
    full: Annotated[bool, typer.Option(help=FULL_HELP)] = False,
    optimize: Annotated[bool, typer.Option(help="Build HNSW graphs after writing (large indexes).")] = False,
) -> None:
    """Sync every enabled configured source (ASKDOCS_SOURCES_FILE) once: `askdocs sync` for all of them."""
    _sync(None, None, None, full, optimize)


def sync(
    name: Annotated[str | None, typer.Argument(help="A configured source (default: every enabled one).")] = None,
    source: Annotated[str | None, typer.Option("--source", hidden=True, help="Same as NAME.")] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help=f"Run a source not in the file, of this type: {', '.join(CONNECTORS)}."),
    ] = None,
    path: Annotated[Path | None, typer.Option(help="With --type files: the folder.")] = None,
    full: Annotated[bool, typer.Option(help=FULL_HELP)] = False,
    optimize: Annotated[bool, typer.Option(help="Build HNSW graphs after writing (large indexes).")] = False,
) -> None:
    """Sync sources now: configured ones by NAME (incremental unless --full), or one given by --type [--path].

    An ad-hoc source is named after its type (its checkpoint too), like the default configuration's `files`.
    """
    _sync(name or source, type_, path, full, optimize)


def chosen_sources(
    configured: SourcesFile, name: str | None, type_: str | None, path: Path | None, settings: Settings
) -> list[SourceConfig]:
    """The sources one sync command runs; an ad-hoc ``type_`` builds the same config object a file would."""
    if type_ is None:
        if path is not None:
            fail("--path needs --type files (a configured source has its path in the sources file)")
        if name is None:
            return [s for s in configured.sources if s.enabled]
        try:
            return [configured.get(name)]
        except KeyError:
            have = ", ".join(s.name for s in configured.sources)
            fail(f"no source named {name!r} in {settings.sources_file} (have: {have}); or run one with --type")
    if type_ not in CONNECTORS:
        fail(f"--type {type_}: unknown source type; choose one of: {', '.join(CONNECTORS)}")
    if type_ == "files" and path is None:
        path = settings.workspace_dir
    elif type_ != "files" and path is not None:
        fail(f"--path applies to --type files only, not {type_}")
    if path is not None and not path.is_dir():
        fail(f"--path {path}: folder not found")
    ad_hoc = SourceConfig(name=name or type_, type=type_, path=path)
    in_file = configured.sources if settings.sources_file.exists() else []
    same_name = next((s for s in in_file if s.name == ad_hoc.name), None)
    if same_name is not None and (same_name.type, same_name.path) != (ad_hoc.type, ad_hoc.path):
        fail(
            f"source {ad_hoc.name!r} is configured in {settings.sources_file} differently (type {same_name.type}, "
            f"path {same_name.path}); run `askdocs sync {ad_hoc.name}`, or name this run: --type {type_} NAME"
        )
    return [ad_hoc]


def _sync(name: str | None, type_: str | None, path: Path | None, full: bool, optimize: bool) -> None:
    """Run the chosen sources one after the other; exit 1 when one failed."""
    from askdocs.ingest.runner import source_runner
    from askdocs.ingest.scheduler import record_run, utcnow
    from askdocs.ingest.state import CheckpointStore

    settings = load_settings()
    chosen = chosen_sources(configured_sources(settings), name, type_, path, settings)
    services = build_services(settings)
    failed = False
    try:
        services.index.check()
        store = CheckpointStore(settings.data_dir / "state")
        run = source_runner(services.indexer(), store, settings)
        for config in chosen:
            with _progress_bar(config.name, settings.progress_every_s) as progress:
                started = utcnow()
                report = run(config, full, progress)  # type: ignore[call-arg]
            record_run(store.folder / "status.json", config, "full" if full else "incremental", report, started)
            for failure in report.failures:
                typer.echo(f"{'fatal' if failure.fatal else 'skipped'}: {failure.message}", err=True)
            typer.echo(report.summary() if report.source == config.name else f"{config.name}: {report.summary()}")
            failed = failed or report.status == "failed"
        if optimize:
            services.index.optimize()
    finally:
        services.close()
    if failed:
        raise typer.Exit(1)


def sources() -> None:
    """Show every configured source: schedule, last run, outcome, counts, failures."""
    from askdocs.ingest.scheduler import read_statuses

    settings = load_settings()
    configured = configured_sources(settings)
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


def scheduler() -> None:
    """Run the sync scheduler as its own process (Qdrant server mode); stop with Ctrl-C or SIGTERM."""
    import signal
    import threading

    from askdocs.api.logs import configure_logging

    settings = load_settings()
    if not settings.qdrant_url:
        fail(
            "with the embedded index the scheduler runs inside `askdocs serve` (one process may hold the index); "
            "set ASKDOCS_QDRANT_URL to run it on its own"
        )
    configure_logging(settings.log_format)
    services = build_services(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        services.warm_up()
        services.start_scheduler()
        stop.wait()
    finally:
        services.close()


def reindex(
    embedder_en: Annotated[str | None, typer.Option(help="New model for English (default: the current one).")] = None,
    embedder_ja: Annotated[str | None, typer.Option(help="New model for Japanese (default: the current one).")] = None,
    keep_old: Annotated[bool, typer.Option(help="Keep the old collection after the switch.")] = False,
    cancel: Annotated[bool, typer.Option(help="Discard a rebuild under way (its collection and its mark).")] = False,
) -> None:
    """Rebuild the index with other dense models from the stored chunks while it serves, then switch atomically.

    Resumable: after a kill, the same command carries on. Syncs meanwhile write to both collections.
    """
    settings = load_settings()
    services = build_services(settings)
    try:
        if cancel:
            typer.echo("rebuild cancelled" if services.cancel_rebuild() else "no rebuild under way")
            return
        current = services.serving_models()
        rebuild = services.reindexer(embedder_en or current.en, embedder_ja or current.ja)
        resumed = rebuild.start()
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task("resuming" if resumed else "rebuilding", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, description=f"documents copied ({done}/{total})")

            physical = rebuild.switch(keep_old=keep_old, progress=progress)
        typer.echo(f"switched to {physical} ({rebuild.models.en} / {rebuild.models.ja})")
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/yellow] run the same command to resume, or `askdocs reindex --cancel`")
        raise typer.Exit(130) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()
