"""Build a connector by source name from ``Settings`` (each connector module owns its construction)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from askdocs.settings import Settings

# source name -> "module:factory"; the factory takes Settings and returns a connector or raises ValueError.
CONNECTORS: dict[str, str] = {
    "files": "connectors.files:from_settings",
    "slack": "connectors.slack:from_settings",
    "slack-export": "connectors.slack_export:from_settings",
    "confluence": "connectors.confluence:from_settings",
    "google-docs": "connectors.google_docs:from_settings",
}


def build_connector(source: str, settings: Settings) -> Any:
    """The connector for ``source``; ValueError names the choices or the missing configuration."""
    try:
        target = CONNECTORS[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; choose one of: {', '.join(CONNECTORS)}") from None
    module_name, factory = target.split(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"the {source} connector is not available in this installation ({exc.name})") from None
    return getattr(module, factory)(settings)
