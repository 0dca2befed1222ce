"""The one list of source types: how each connector is built and which settings configure it.

``askdocs.yaml`` validation (``ingest.sources``), the CLI's ``--type`` choices and the README's source list derive
from ``CONNECTORS``; adding a connector means adding one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from askdocs.errors import SourceError
from askdocs.settings import Settings


@dataclass(frozen=True)
class ConnectorType:
    """A source type: its factory (``module:function`` taking ``Settings``) and the settings that configure it
    (``Settings`` fields starting with one of ``prefixes``, usable as a source's options or credentials)."""

    factory: str
    prefixes: tuple[str, ...]
    description: str

    def settings(self) -> list[str]:
        """The ``Settings`` fields a source of this type may set."""
        return [name for name in Settings.model_fields if name.startswith(self.prefixes)]


CONNECTORS: dict[str, ConnectorType] = {
    "files": ConnectorType(
        "askdocs.connectors.files.connector:from_settings", ("workspace_",), "a folder of Markdown, text, HTML"
    ),
    "slack": ConnectorType(
        "askdocs.connectors.slack.web:from_settings", ("slack_",), "Slack channels through the Web API"
    ),
    "slack-export": ConnectorType(
        "askdocs.connectors.slack.export:from_settings", ("slack_",), "a Slack admin export (ZIP or folder)"
    ),
    "confluence": ConnectorType(
        "askdocs.connectors.confluence.connector:from_settings",
        ("confluence_", "space_"),
        "Confluence Cloud spaces or a CQL query",
    ),
    "google-docs": ConnectorType(
        "askdocs.connectors.google.connector:from_settings", ("google_",), "Google Docs in Drive"
    ),
}


def connector_type(source_type: str) -> ConnectorType:
    """The entry for ``source_type``; ``SourceError`` names the choices."""
    try:
        return CONNECTORS[source_type]
    except KeyError:
        raise SourceError(f"unknown source type {source_type!r}; choose one of: {', '.join(CONNECTORS)}") from None


def build_connector(source_type: str, settings: Settings) -> Any:
    """The connector for ``source_type``; ``SourceError`` names the choices or the missing configuration."""
    module_name, factory = connector_type(source_type).factory.split(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SourceError(f"the {source_type} connector is not available in this installation ({exc.name})") from None
    return getattr(module, factory)(settings)
