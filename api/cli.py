"""The ``askdocs`` command: index, serve, search, ask (the index commands live in ``api/cli_sync.py``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from askdocs.api.access_cli import access_app
from askdocs.api.auth.keys_cli import keys_app
from askdocs.api.cli_common import CliApp, build_services, err, fail, load_settings, principals_for
from askdocs.api.cli_sync import index, reindex, scheduler, sources, sync
from askdocs.api.feedback_cli import feedback_app
from askdocs.errors import IndexDamaged
from askdocs.models import SearchFilters

app = CliApp(
    help="askdocs: hybrid search and cited answers over your documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(keys_app, name="keys")
app.add_typer(feedback_app, name="feedback")
app.command()(index)
app.command()(sync)
app.add_typer(access_app, name="access")
# The connection's own address decides trust (ASKDOCS_AUTH__TRUSTED_PROXIES), never a client's X-Forwarded-For.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False) -> None:
    """askdocs: hybrid search and cited answers over your documents."""
    CliApp.debug = debug


class Language(StrEnum):
    """The ``--language`` choices of ``askdocs search``."""

    en = "en"
    ja = "ja"
    both = "both"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default ASKDOCS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ASKDOCS_PORT).")] = None,
) -> None:
    """Serve the REST API and the search box (refuses to start, with the reason, on a bad configuration)."""
    import uvicorn

    from askdocs.api.app import create_app
    from askdocs.api.auth.demo import exposure_problem
    from askdocs.api.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format)
    bind = host or settings.host
    problem = exposure_problem(settings, bind)
    if problem:
        fail(f"refusing to start: {problem}")
    services = build_services(settings)  # the configuration, the models' names and the index, checked before binding
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
    services = build_services(settings)
    filters = SearchFilters(language=language.value)
    try:
        hits = services.retriever.search(query, principals_for(services, user, group), filters, top_k=top_k)
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
    from askdocs.retrieval.answer import LLMError

    settings = load_settings()
    services = build_services(settings)
    try:
        answer = services.ask(question, principals_for(services, user, group))
    except LLMError as exc:
        fail(str(exc), 1)
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

    from askdocs.api.auth.authenticator import Authenticator
    from askdocs.api.auth.principals import AuthError
    from askdocs.api.logs import configure_logging
    from askdocs.api.mcp_server import build_mcp, key_principals

    settings = load_settings()
    configure_logging(settings.log_format)  # stderr: stdout carries the protocol
    authenticator = Authenticator(settings)
    if key:
        try:
            anyio.run(authenticator.verify_token, key)
        except AuthError as exc:
            err.print(f"[red]error:[/red] ASKDOCS_API_KEY / --key refused: {exc.message}")
            raise typer.Exit(2) from None
    services = build_services(settings)
    try:
        if services.index.count_chunks() == 0:
            err.print("[yellow]warning:[/yellow] the index is empty: run 'askdocs index' first")
        build_mcp(lambda: services, key_principals(authenticator, key, services.space_access), warm_up=True).run(
            "stdio"
        )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        services.close()


app.command()(sources)
app.command()(scheduler)
app.command()(reindex)


@app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def eval_(ctx: typer.Context) -> None:
    """Evaluate retrieval (and answers) on a BEIR dataset; options: askdocs eval --help (see eval/runner.py)."""
    try:
        from askdocs.eval.runner import main as run_eval
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("askdocs.eval"):
            raise
        fail("askdocs eval needs a source checkout (the harness is not in the installed package): run it there")
    run_eval(list(ctx.args))


def main() -> None:
    """Entry point for ``python -m askdocs.api.cli``."""
    app()


if __name__ == "__main__":
    main()
