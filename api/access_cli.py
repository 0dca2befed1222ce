"""``askdocs access``: run a source's identity sync or permission refresh now (the server runs them on schedule)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the CLI starts without importing the ingest stack
    from askdocs.ingest.access import AccessKind

access_app = typer.Typer(help="Identity sync and permission refresh of the configured sources.", no_args_is_help=True)
SOURCE_HELP = "A configured source (default: every enabled one)."


def _run(name: str | None, kind: AccessKind) -> None:
    """Run ``kind`` for the chosen sources; exit 1 when one failed."""
    from askdocs.api.cli_common import build_services, fail, load_settings
    from askdocs.api.cli_sync import chosen_sources
    from askdocs.database import engine_for
    from askdocs.identity import IdentityStore
    from askdocs.ingest.access import access_runner
    from askdocs.ingest.sources import configured_sources

    settings = load_settings()
    chosen = chosen_sources(configured_sources(settings), name, None, None, settings)
    services = build_services(settings)
    failed = ran = False
    try:
        run = access_runner(services.indexer(), IdentityStore(engine_for(settings)), settings)
        for config in chosen:
            report = run(config, kind)
            if report is None:
                if name is not None:
                    fail(f"source {config.name!r} ({config.type}) has no {kind} capability")
                continue
            ran = True
            for failure in report.failures:
                typer.echo(f"{'fatal' if failure.fatal else 'failure'}: {failure.message}", err=True)
            typer.echo(report.summary())
            failed = failed or report.status == "failed"
    finally:
        services.close()
    if not ran:
        typer.echo(f"no configured source has a {kind} capability", err=True)
    if failed:
        raise typer.Exit(1)


@access_app.command("identities")
def identities(name: Annotated[str | None, typer.Argument(help=SOURCE_HELP)] = None) -> None:
    """Sync accounts, groups with their members, and space grants into the identity store."""
    _run(name, "identity")


@access_app.command("permissions")
def permissions(name: Annotated[str | None, typer.Argument(help=SOURCE_HELP)] = None) -> None:
    """Rewrite the ACL of indexed documents whose permissions changed at the source (no content is read)."""
    _run(name, "permissions")
