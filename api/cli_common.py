"""What every ``askdocs`` subcommand shares: one ``error:`` line for a user's mistake, settings, services."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from askdocs.errors import AskdocsError
from askdocs.models import PUBLIC
from askdocs.settings import Settings

if TYPE_CHECKING:
    from askdocs.app import Services

err = Console(stderr=True)


class CliApp(typer.Typer):
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


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one ``error:`` line and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """The settings, or one readable line naming the variable (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        fail("; ".join(_setting_problem(e) for e in exc.errors()))


def _setting_problem(error: Any) -> str:
    """``ASKDOCS_NAME='value': what is wrong`` (secret values are never shown)."""
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Settings.model_fields.get(name)
    shown = "" if field is None or "Secret" in str(field.annotation) else f"={error.get('input')!r}"
    return f"ASKDOCS_{'__'.join(map(str, error['loc'])).upper()}{shown}: {error['msg']}"


def build_services(settings: Settings) -> Services:
    """The composition root for ``settings`` (nothing heavy happens yet)."""
    from askdocs.app import Services

    return Services.build(settings)


def principals_for(services: Services, user: str | None, groups: list[str] | None) -> list[str]:
    """Who the CLI searches as: public, ``user`` and ``groups``, and the spaces they may read."""
    from askdocs.api.auth.principals import spaces_for
    from askdocs.database import engine_for
    from askdocs.identity import IdentityStore

    principals = [PUBLIC]
    if user:
        principals.append(f"user:{user.lower()}")
    principals.extend(f"group:{g}" for g in groups or [])
    if len(principals) > 1:  # synced groups and grants, as the API expands a signed-in caller
        principals = IdentityStore(engine_for(services.settings)).expand(principals)
    return principals + spaces_for(principals, services.space_access)
