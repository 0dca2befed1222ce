"""The one list of source types: each type's ``Config`` (its options and credentials) and how it is built.

``askdocs.yaml`` validation (``ingest.sources``), the CLI's ``--type`` choices and the README's option tables
(``connectors.docs``) derive from ``CONNECTORS``; adding a connector means adding one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from askdocs.connectors.config import ConnectorConfig
from askdocs.connectors.confluence.config import ConfluenceConfig
from askdocs.connectors.files.config import FilesConfig
from askdocs.connectors.google.config import GoogleDocsConfig
from askdocs.connectors.slack.config import SlackConfig, SlackExportConfig
from askdocs.errors import SourceError
from askdocs.settings import Settings


@dataclass(frozen=True)
class ConnectorType:
    """A source type: its options (``config``), its builder (``module:function`` taking the config and the global
    ``Settings``, imported only when a source of the type runs, so a missing optional dependency is a
    ``SourceError``), and ``legacy_prefix``, which option names carried when they were global settings."""

    config: type[ConnectorConfig]
    build: str
    description: str
    legacy_prefix: str = ""


CONNECTORS: dict[str, ConnectorType] = {
    "files": ConnectorType(
        FilesConfig, "askdocs.connectors.files.connector:build", "a folder of Markdown, text, HTML and office files"
    ),
    "slack": ConnectorType(
        SlackConfig, "askdocs.connectors.slack.web:build", "Slack channels through the Web API", "slack_"
    ),
    "slack-export": ConnectorType(
        SlackExportConfig, "askdocs.connectors.slack.export:build", "a Slack admin export (ZIP or folder)", "slack_"
    ),
    "confluence": ConnectorType(
        ConfluenceConfig,
        "askdocs.connectors.confluence.connector:build",
        "Confluence Cloud spaces or a CQL query",
        "confluence_",
    ),
    "google-docs": ConnectorType(
        GoogleDocsConfig, "askdocs.connectors.google.connector:build", "Google Docs and Drive files", "google_"
    ),
}


def connector_type(source_type: str) -> ConnectorType:
    """The entry for ``source_type``; ``SourceError`` names the choices."""
    try:
        return CONNECTORS[source_type]
    except KeyError:
        raise SourceError(f"unknown source type {source_type!r}; choose one of: {', '.join(CONNECTORS)}") from None


def build_connector(source_type: str, config: ConnectorConfig, settings: Settings) -> Any:
    """The connector for a source of ``source_type`` with ``config``; ``SourceError`` names the choices, the
    missing configuration or the missing dependency."""
    entry = connector_type(source_type)
    if not isinstance(config, entry.config):
        raise SourceError(f"a {source_type} source needs a {entry.config.__name__}, not a {type(config).__name__}")
    module_name, builder = entry.build.split(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        raise SourceError(f"the {source_type} connector is not available in this installation ({exc.name})") from None
    return getattr(module, builder)(config, settings)
