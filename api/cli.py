"""The ``askdocs`` command: index, serve, search, ask."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.auth.keys_cli import keys_app
from api.feedback_cli import feedback_app
from askdocs.errors import AskdocsError, IndexDamaged
from askdocs.models import PUBLIC, SearchFilters
from askdocs.settings import Settings
from connectors.registry import CONNECTORS
from ingest.sources import SourceConfig, SourcesFile, configured_sources

if TYPE_CHECKING:
    from api.services import Services


class _App(typer.Typer):
    """The Typer app, turning a user's mistake into one ``error:`` line and a non-zero exit (traceback: --debug)."""

    debug = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if self.debug:
                raise
            if isinstance(exc, AskdocsError):
                typer.echo(f"error: {exc}", err=True)
                sys.exit(2)
            first = (str(exc).splitlines() or [""])[0][:300]
            typer.echo(
                f"error: unexpected {type(exc).__name__}: {first} (run with --debug for the traceback)", err=True
            )
            sys.exit(1)


app = _App(
    help="askdocs: hybrid search and cited answers over your documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
app.add_typer(keys_app, name="keys")
app.add_typer(feedback_app, name="feedback")
# The connection's own address decides trust (ASKDOCS_AUTH__TRUSTED_PROXIES), never a client's X-Forwarded-For.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    """askdocs: hybrid search and cited answers over your documents."""
    _App.debug = debug


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print one ``error:`` line and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


class Language(StrEnum):
    """The ``--language`` choices of ``askdocs search``."""

    en = "en"
    ja = "ja"
    both = "both"


def load_settings() -> Settings:
    """The settings, or one readable line naming the variable (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        _fail("; ".join(_setting_problem(e) for e in exc.errors()))


def _setting_problem(error: Any) -> str:
    """``ASKDOCS_NAME='value': what is wrong`` (secret values are never shown)."""
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Settings.model_fields.get(name)
    shown = "" if field is None or "Secret" in str(field.annotation) else f"={error.get('input')!r}"
    return f"ASKDOCS_{'__'.join(map(str, error['loc'])).upper()}{shown}: {error['msg']}"


def _services(settings: Settings) -> Services:
    from api.services import Services

    return Services.build(settings)


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


def _principals(services: Services, user: str | None, groups: list[str] | None) -> list[str]:
    from api.auth.principals import spaces_for

    principals = [PUBLIC]
    if user:
        principals.append(f"user:{user.lower()}")
    principals.extend(f"group:{g}" for g in groups or [])
    return principals + spaces_for(principals, services.space_access)


FULL_HELP = "Re-read everything and prune what the source no longer has."


@app.command()
def index(
    full: Annotated[bool, typer.Option(help=FULL_HELP)] = False,
    optimize: Annotated[bool, typer.Option(help="Build HNSW graphs after writing (large indexes).")] = False,
) -> None:
    """Sync every enabled configured source (ASKDOCS_SOURCES_FILE) once: `askdocs sync` for all of them."""
    _sync(None, None, None, full, optimize)


@app.command()
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


def _chosen_sources(
    configured: SourcesFile, name: str | None, type_: str | None, path: Path | None, settings: Settings
) -> list[SourceConfig]:
    """The sources one sync command runs; an ad-hoc ``type_`` builds the same config object a file would."""
    if type_ is None:
        if path is not None:
            _fail("--path needs --type files (a configured source has its path in the sources file)")
        if name is None:
            return [s for s in configured.sources if s.enabled]
        try:
            return [configured.get(name)]
        except KeyError:
            have = ", ".join(s.name for s in configured.sources)
            _fail(f"no source named {name!r} in {settings.sources_file} (have: {have}); or run one with --type")
    if type_ not in CONNECTORS:
        _fail(f"--type {type_}: unknown source type; choose one of: {', '.join(CONNECTORS)}")
    if type_ == "files" and path is None:
        path = settings.workspace_dir
    elif type_ != "files" and path is not None:
        _fail(f"--path applies to --type files only, not {type_}")
    if path is not None and not path.is_dir():
        _fail(f"--path {path}: folder not found")
    ad_hoc = SourceConfig(name=name or type_, type=type_, path=path)
    in_file = configured.sources if settings.sources_file.exists() else []
    same_name = next((s for s in in_file if s.name == ad_hoc.name), None)
    if same_name is not None and (same_name.type, same_name.path) != (ad_hoc.type, ad_hoc.path):
        _fail(
            f"source {ad_hoc.name!r} is configured in {settings.sources_file} differently (type {same_name.type}, "
            f"path {same_name.path}); run `askdocs sync {ad_hoc.name}`, or name this run: --type {type_} NAME"
        )
    return [ad_hoc]


def _sync(name: str | None, type_: str | None, path: Path | None, full: bool, optimize: bool) -> None:
    """Run the chosen sources one after the other; exit 1 when one failed."""
    from ingest.runner import source_runner
    from ingest.scheduler import record_run, utcnow
    from ingest.state import CheckpointStore

    settings = load_settings()
    chosen = _chosen_sources(configured_sources(settings), name, type_, path, settings)
    services = _services(settings)
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default ASKDOCS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ASKDOCS_PORT).")] = None,
) -> None:
    """Serve the REST API and the search box (refuses to start, with the reason, on a bad configuration)."""
    import uvicorn

    from api.app import create_app
    from api.auth.demo import exposure_problem
    from api.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format)
    bind = host or settings.host
    problem = exposure_problem(settings, bind)
    if problem:
        _fail(f"refusing to start: {problem}")
    services = _services(settings)  # the configuration, the models' names and the index, checked before binding
    try:
        services.index.check()
    except IndexDamaged as exc:  # the server repairs it (ingest/integrity); /healthz answers 503 until then
        err.print(f"[yellow]warning:[/yellow] {exc}")
    finally:
        services.close()
    uvicorn.run(create_app(settings), host=bind, port=port or settings.port, log_config=None, **SERVER_OPTIONS)


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
    settings = load_settings()
    services = _services(settings)
    filters = SearchFilters(language=language.value)
    try:
        hits = services.retriever.search(query, _principals(services, user, group), filters, top_k=top_k)
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

    settings = load_settings()
    services = _services(settings)
    try:
        answer = services.ask(question, _principals(services, user, group))
    except LLMError as exc:
        _fail(str(exc), 1)
    finally:
        services.close()
    typer.echo(answer.text)
    for n, citation in {c.n: c for c in answer.citations}.items():
        typer.echo(f"  [{n}] {citation.title} — {citation.url}")


@app.command()
def mcp(
    key: Annotated[
        str | None,
        typer.Option(
            envvar="ASKDOCS_API_KEY",
            show_default=False,
            help="API key whose principals the tools run as (prefer the env var; default: anonymous, public only).",
        ),
    ] = None,
) -> None:
    """Serve the MCP tools (search, ask, fetch_document) over stdio, for a desktop AI assistant."""
    import anyio

    from api.auth.authenticator import Authenticator
    from api.auth.principals import AuthError
    from api.logs import configure_logging
    from api.mcp_server import build_mcp, key_principals

    settings = load_settings()
    configure_logging(settings.log_format)  # stderr: stdout carries the protocol
    authenticator = Authenticator(settings)
    if key:
        try:
            anyio.run(authenticator.verify_token, key)
        except AuthError as exc:
            err.print(f"[red]error:[/red] ASKDOCS_API_KEY / --key refused: {exc.message}")
            raise typer.Exit(2) from None
    services = _services(settings)
    try:
        if services.index.count_chunks() == 0:
            err.print("[yellow]warning:[/yellow] the index is empty: run 'askdocs index' first")
        build_mcp(lambda: services, key_principals(authenticator, key), warm_up=True).run("stdio")
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()


@app.command()
def sources() -> None:
    """Show every configured source: schedule, last run, outcome, counts, failures."""
    from ingest.scheduler import read_statuses

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


@app.command()
def scheduler() -> None:
    """Run the sync scheduler as its own process (Qdrant server mode); stop with Ctrl-C or SIGTERM."""
    import signal
    import threading

    from api.logs import configure_logging

    settings = load_settings()
    if not settings.qdrant_url:
        _fail(
            "with the embedded index the scheduler runs inside `askdocs serve` (one process may hold the index); "
            "set ASKDOCS_QDRANT_URL to run it on its own"
        )
    configure_logging(settings.log_format)
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


@app.command()
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
    services = _services(settings)
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
