"""``askdocs keys``: create (shown once), list (with last use) and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from askdocs.api.auth.keys import KeyStore, key_principals
from askdocs.settings import Settings

keys_app = typer.Typer(help="API keys for services (scripts, bots, MCP clients, sync triggers).", no_args_is_help=True)
err = Console(stderr=True)


def _store() -> KeyStore:
    from askdocs.api.cli_common import load_settings

    settings: Settings = load_settings()
    return KeyStore(settings.auth_dir / "keys.sqlite3")


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name to list and revoke the key by.")],
    principals: Annotated[
        list[str] | None, typer.Option("--principals", help="Principals it carries, e.g. group:finance (repeatable).")
    ] = None,
    as_user: Annotated[str | None, typer.Option("--as", help="Act as a person: user:<email>.")] = None,
    admin: Annotated[bool, typer.Option(help="May read /metrics and /v1/sources and trigger syncs.")] = False,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    chosen = [p for value in principals or [] for p in value.replace(",", " ").split()]
    if as_user is not None:
        if not as_user.startswith("user:") or "@" not in as_user:
            err.print(f"[red]error:[/red] --as takes user:<email>, got {as_user!r}")
            raise typer.Exit(2)
        chosen.append("user:" + as_user.removeprefix("user:").lower())
    try:
        carried = key_principals(chosen, admin)
        secret = _store().create(name, carried)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(f"key [bold]{name}[/bold] carries {', '.join(carried)}; it is shown only now:")
    typer.echo(secret)


@keys_app.command("list")
def list_() -> None:
    """Every active key: name, principals, created, last used (never the key itself)."""
    table = Table("name", "principals", "created", "last used")
    for key in _store().list():
        used = key.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if key.last_used_at else "never"
        table.add_row(key.name, " ".join(key.principals), key.created_at.strftime("%Y-%m-%d %H:%M:%S"), used)
    Console().print(table)


@keys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key by name; requests with it fail at once."""
    if not _store().revoke(name):
        err.print(f"[red]error:[/red] no key named {name!r} (see: askdocs keys list)")
        raise typer.Exit(2)
    typer.echo(f"revoked {name}")
